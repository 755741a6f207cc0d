//! The committed C header is what cbindgen makes of the current source: CI fails when it
//! drifts. `MSIX_POLICY_BLESS=1 cargo test -p msix-policy-capi --test header` rewrites it.

#[test]
fn the_committed_header_is_current() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml parses");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen understands capi/src/lib.rs")
        .write(&mut generated);
    let path = format!("{dir}/include/msix_policy.h");
    if std::env::var_os("MSIX_POLICY_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("header written");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{path} is stale: rerun with MSIX_POLICY_BLESS=1 and commit it\n--- generated ---\n{}",
        String::from_utf8_lossy(&generated)
    );
}
