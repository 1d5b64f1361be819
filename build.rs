//! Link order of the hot functions for the release build (see scripts/build-release.sh and
//! scripts/order/): `HULL_LINK_ORDER` names a symbol ordering file for rust-lld. Passed from
//! here rather than in RUSTFLAGS so that cargo relinks when the file changes.

fn main() {
    println!("cargo:rerun-if-env-changed=HULL_LINK_ORDER");
    let Some(order) = std::env::var_os("HULL_LINK_ORDER") else {
        return;
    };
    let order = std::path::PathBuf::from(order);
    println!("cargo:rerun-if-changed={}", order.display());
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    // A symbol the file names that this build does not have (renamed, inlined) is skipped.
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
