//! The synthetic fixtures and the kernel matrix are what their generators write now: each runs into
//! a temporary directory and the result is compared with the tree (bytes, links, modes). The
//! schemas, dist/ and src/demo.pack have their own tests (tests/schemas.rs, tests/dist.rs,
//! tests/demo.rs) and the corpus files theirs (bench/tests/corpus.rs).

use std::path::PathBuf;

struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        let p = std::env::temp_dir().join(format!("xtask-fresh-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_synthetic_fixtures_are_what_the_generator_writes() {
    let t = TempDir::new("synth");
    let names = xtask::synth_fixtures(&t.0).unwrap();
    assert!(names.len() >= 27, "{names:?}");
    let fresh = t.0.join(xtask::SYNTHETIC);
    let tree = xtask::repo().join(xtask::SYNTHETIC);
    let diff = xtask::diff_trees(&fresh, &tree).unwrap();
    assert!(
        diff.is_empty(),
        "fixtures/synthetic differs from what the generator writes (xtask/src/synth.rs): \
         run `cargo xtask synth-fixtures` and review the diff\n{}",
        diff.join("\n")
    );
}

#[test]
fn the_kernel_matrix_is_what_the_generator_writes() {
    let t = TempDir::new("kernel-matrix");
    xtask::kernel_matrix::write(&t.0).unwrap();
    let fresh = std::fs::read_to_string(t.0.join(xtask::kernel_matrix::DOC)).unwrap();
    let tree = std::fs::read_to_string(xtask::repo().join(xtask::kernel_matrix::DOC)).unwrap();
    assert!(
        fresh == tree,
        "docs/lab/kernel-matrix.md differs from what the generator writes (xtask/src/kernel_matrix.rs, \
         xtask/kernel-matrix.toml): run `cargo xtask kernel-matrix` and review the diff"
    );
}
