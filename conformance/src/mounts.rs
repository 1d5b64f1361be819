//! Mounts left under a test directory (found in mountinfo, lazily unmounted), and
//! `TempDir`, a directory removed with everything mounted under it.

use crate::binary::{unique_id, BUNDLE_BASE};
use crate::procfs::{own_mountinfo, parse_mountinfo_line, unescape_mountinfo};
use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

/// How many mounts are stacked on "/" in our mount namespace (a mount a runtime leaves on
/// the host's root shows up here; other tests' mounts elsewhere do not).
pub fn mounts_on_root() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("reading /proc/self/mountinfo")
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some("/"))
        .count()
}

/// Mount points at or under `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let s = own_mountinfo();
    let dir_s = dir.to_string_lossy().into_owned();
    let mut v: Vec<PathBuf> = s
        .lines()
        .filter_map(parse_mountinfo_line)
        .map(|m| unescape_mountinfo(m.mount_point))
        .filter(|m| m == &dir_s || m.starts_with(&format!("{dir_s}/")))
        .map(PathBuf::from)
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    v.dedup();
    v
}

fn umount_detach(p: &Path) -> bool {
    let c = match CString::new(p.as_os_str().as_encoded_bytes()) {
        Ok(c) => c,
        Err(_) => return false,
    };
    // SAFETY: valid NUL-terminated path.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) == 0 }
}

/// Best-effort: lazily unmount everything at or under `dir`. Returns true if
/// nothing is mounted there afterwards.
pub fn unmount_all_under(dir: &Path) -> bool {
    for _ in 0..4 {
        let ms = mounts_under(dir);
        if ms.is_empty() {
            return true;
        }
        for m in ms {
            umount_detach(&m);
        }
    }
    mounts_under(dir).is_empty()
}

/// A directory removed (recursively, after unmounting anything under it) on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new unique directory under [`BUNDLE_BASE`].
    pub fn new(prefix: &str) -> TempDir {
        TempDir::at(Path::new(BUNDLE_BASE).join(unique_id(prefix)))
    }

    /// Create `path` (and parents) and guard it.
    pub fn at(path: PathBuf) -> TempDir {
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if unmount_all_under(&self.0) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}
