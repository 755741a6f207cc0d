//! The corpus audit: every distinct MSI-X layout of `corpus/pciconf-msix.tsv` decided on an
//! isolated host at 4, 16 and 64 KiB pages for a guest that writes its table, against the peer
//! models; per device family, with the corpus targets counted.
//!
//!     cargo run --release -p msix-policy-bench --bin corpus-audit > docs/corpus.md
//!
//! With `--fixture DIR` it writes the selected layouts (`corpus::fixture_selection`) as a
//! recorded arm64 host with 64 KiB pages instead (fixtures/corpus/arm64-its-64k).

use msix_policy_bench::corpus;

fn main() {
    let entries = match corpus::load() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("corpus-audit: {e}");
            std::process::exit(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => print!("{}", corpus::report(&entries)),
        [flag, dir] if flag == "--fixture" => {
            let dir = std::path::Path::new(dir);
            if dir.exists() {
                eprintln!("corpus-audit: {} exists; remove it first", dir.display());
                std::process::exit(2);
            }
            let chosen = corpus::fixture_selection(&entries);
            match corpus::write_fixture(dir, &chosen, 65536) {
                Ok(placed) => eprintln!("wrote {} functions to {}", placed.len(), dir.display()),
                Err(e) => {
                    eprintln!("corpus-audit: writing {}: {e}", dir.display());
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!("usage: corpus-audit [--fixture DIR]");
            std::process::exit(2);
        }
    }
}
