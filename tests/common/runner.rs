//! Starting a test program the way the tests run: natively, or under the target's emulator.

use std::path::Path;

/// A command for `program`, started through the emulator when the tests run under one
/// (scripts/cross-test.sh sets MSIX_POLICY_TEST_RUNNER).
pub fn under_runner(program: &Path) -> std::process::Command {
    let runner = std::env::var("MSIX_POLICY_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut c = std::process::Command::new(emulator);
            c.args(words).arg(program);
            c
        }
        None => std::process::Command::new(program),
    }
}
