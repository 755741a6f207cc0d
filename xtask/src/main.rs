//! `cargo xtask <command>`: regenerates the files a program writes, in place.

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

  synth-fixtures  fixtures/synthetic/ (the synthetic recorded hosts)
  corpus          docs/corpus.md and fixtures/corpus/arm64-its-64k from corpus/pciconf-msix.tsv
  schemas         schemas/*.schema.json from the Rust types
  dist            dist/man and dist/completions from the CLI's arguments
  demo            src/demo.pack from fixtures/qemu/x86-q35-vtd-ir
  kernel-matrix   docs/lab/kernel-matrix.md from the lab's recordings and xtask/kernel-matrix.toml
  all             every one of them

Each rewrites its files in the tree; review with git diff. GENERATED.md lists the files.";

fn run(command: &str) -> xtask::Result {
    let root = xtask::repo();
    match command {
        "synth-fixtures" => {
            let names = xtask::synth_fixtures(&root)?;
            eprintln!("wrote {}", names.join(", "));
        }
        "corpus" => {
            xtask::corpus(&root)?;
            eprintln!("wrote {} and {}", xtask::CORPUS_DOC, xtask::CORPUS_FIXTURE);
        }
        "schemas" => {
            xtask::schemas(&root)?;
            eprintln!("wrote schemas/");
        }
        "dist" => {
            xtask::dist(&root)?;
            eprintln!("wrote dist/man and dist/completions");
        }
        "demo" => {
            xtask::demo(&root)?;
            eprintln!("wrote {}", xtask::DEMO_PACK);
        }
        "kernel-matrix" => {
            xtask::kernel_matrix::write(&root)?;
            eprintln!("wrote {}", xtask::kernel_matrix::DOC);
        }
        "all" => {
            for c in ["synth-fixtures", "corpus", "schemas", "dist", "demo", "kernel-matrix"] {
                run(c)?;
            }
        }
        _ => return Err(format!("unknown command {command:?}\n{USAGE}").into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [c] if c == "help" || c == "--help" || c == "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        [c] => match run(c) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask {c}: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
