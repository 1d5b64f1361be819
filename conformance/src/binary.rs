//! Which runtime binary is under test, and the unique names and base directories of
//! everything a test creates.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Base directory of the per-runtime state roots.
pub const STATE_BASE: &str = "/run/hull-conf";

/// Base directory of the temporary bundles.
pub const BUNDLE_BASE: &str = "/tmp/hull-conf";

/// The workspace directory (parent of this crate).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("conformance crate has a parent directory")
        .to_path_buf()
}

/// The runtime binary under test.
///
/// `HULL_BIN` if set; otherwise whichever of `<workspace>/target/release/hull`,
/// `<workspace>/target/debug/hull` and the static release build
/// `<workspace>/target/<triple>/release/hull` exists and was modified most recently
/// (`CARGO_TARGET_DIR` is honoured too if set).
pub fn hull_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(b) = std::env::var_os("HULL_BIN") {
            let p = PathBuf::from(b);
            assert!(p.exists(), "HULL_BIN={} does not exist", p.display());
            return p;
        }
        let mut targets = vec![workspace_dir().join("target")];
        if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
            targets.insert(0, PathBuf::from(t));
        }
        let mut best: Option<(SystemTime, PathBuf)> = None;
        for t in &targets {
            // the static release build (scripts/build-release.sh) lives under the host triple
            let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
            for profile in ["release", "debug", &format!("{triple}/release")] {
                let p = t.join(profile).join("hull");
                if let Ok(m) = fs::metadata(&p) {
                    let mtime = m.modified().unwrap_or(UNIX_EPOCH);
                    if best.as_ref().is_none_or(|(bt, _)| mtime > *bt) {
                        best = Some((mtime, p));
                    }
                }
            }
        }
        match best {
            Some((_, p)) => p,
            None => panic!(
                "no hull binary found: build it (`cargo build --release`) so that \
                 {}/target/{{release,debug}}/hull exists, or set HULL_BIN=/path/to/runtime",
                workspace_dir().display()
            ),
        }
    })
    .clone()
}

/// True when the binary under test is runc (used to annotate known runc deviations).
pub fn is_runc() -> bool {
    hull_bin()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("runc"))
}

/// Whether the runtime under test is crun (a peer check: `conformance/peers/check.sh crun-1.28`).
pub fn is_crun() -> bool {
    hull_bin()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("crun"))
}

fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    if let Ok(mut f) = File::open("/dev/urandom") {
        if f.read_exact(&mut buf).is_ok() {
            return u32::from_ne_bytes(buf);
        }
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// A name unique across parallel tests and processes: `prefix-<pid>-<n>-<rand>`.
/// Only uses `[a-z0-9-]` after the prefix, valid for container ids and cgroup names.
pub fn unique_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!(
        "{}-{}-{}-{:06x}",
        prefix,
        std::process::id(),
        n,
        random_u32() & 0xff_ffff
    )
}
