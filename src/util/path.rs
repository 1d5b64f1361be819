//! Resolving paths inside a container's rootfs without ever leaving it. Every lookup goes
//! through openat2(RESOLVE_IN_ROOT), so a symlink in the rootfs (even one swapped in by a racing
//! process) is resolved as if the rootfs were `/`. Mounts then target `/proc/self/fd/N` of the
//! resolved O_PATH fd, so the kernel mounts exactly on what we checked.

use anyhow::{anyhow, Context, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| anyhow!("path {:?} contains a NUL byte", p))
}

pub(crate) fn openat2(
    dir: RawFd,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> std::io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let e = std::io::Error::last_os_error();
        // EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry.
        if e.raw_os_error() != Some(libc::EAGAIN) && e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Opens a directory as the anchor for lookups (O_PATH).
pub fn open_root(path: &Path) -> Result<OwnedFd> {
    openat2(libc::AT_FDCWD, path, libc::O_PATH | libc::O_DIRECTORY, 0, 0)
        .with_context(|| format!("open {}", path.display()))
}

/// Makes `p` relative (the part below the container's `/`), dropping `.` and leading `/`.
fn relative(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .collect()
}

/// Opens `path` inside `root` (O_PATH) following symlinks only within the root.
pub fn open_in_root(root: &OwnedFd, path: &Path) -> std::io::Result<OwnedFd> {
    let rel = relative(path);
    let rel = if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    };
    openat2(
        root.as_raw_fd(),
        &rel,
        libc::O_PATH,
        0,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

/// Opens `path` inside `root` refusing any symlink on the way (for /proc and /sys targets,
/// which must be real directories).
pub fn open_in_root_nofollow(root: &OwnedFd, path: &Path) -> std::io::Result<OwnedFd> {
    let rel = relative(path);
    openat2(
        root.as_raw_fd(),
        &rel,
        libc::O_PATH,
        0,
        RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    )
}

/// What to create at the end of a path if it is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Dir,
    File,
}

/// Opens `path` inside `root`, creating missing directories (mode 0755) and the final entry.
/// Each component is created relative to an fd that was itself resolved inside the root.
pub fn create_in_root(root: &OwnedFd, path: &Path, leaf: Leaf) -> Result<OwnedFd> {
    if let Ok(fd) = open_in_root(root, path) {
        return Ok(fd);
    }
    if let Some(fd) = create_leaf(root, path, leaf) {
        return Ok(fd);
    }
    // Something is missing: find what the path really names inside the root (following
    // symlinks, even dangling ones, as if the root were `/`), and create that.
    let rel = secure_join(root, path)?;
    let comps: Vec<_> = rel.components().collect();
    let mut done = PathBuf::new();
    for (i, comp) in comps.iter().enumerate() {
        let next = done.join(comp);
        if open_in_root(root, &next).is_err() {
            let parent = open_in_root(
                root,
                if done.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    &done
                },
            )
            .with_context(|| format!("resolving {} in rootfs", done.display()))?;
            let name = cstr(Path::new(comp.as_os_str()))?;
            let last = i + 1 == comps.len();
            let r = if last && leaf == Leaf::File {
                let fd = unsafe {
                    libc::openat(
                        parent.as_raw_fd(),
                        name.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                        0o644,
                    )
                };
                if fd >= 0 {
                    unsafe { libc::close(fd) };
                    0
                } else {
                    -1
                }
            } else {
                unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) }
            };
            if r != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(e)
                        .with_context(|| format!("creating {} in rootfs", next.display()));
                }
            }
        }
        done = next;
    }
    open_in_root(root, path).with_context(|| format!("opening {} in rootfs", path.display()))
}

/// The common case of [`create_in_root`], in a few syscalls: the parent exists and only the
/// last component is missing. The parent is resolved inside the root; the entry is created in
/// it without following anything (a dangling symlink there makes mkdirat/openat fail with
/// EEXIST/ELOOP), and reopened from the parent refusing symlinks, so it is exactly what we
/// made. None when that does not apply or fails: the caller then takes the general path.
fn create_leaf(root: &OwnedFd, path: &Path, leaf: Leaf) -> Option<OwnedFd> {
    let rel = relative(path);
    let name = match rel.components().next_back() {
        Some(Component::Normal(n)) => n,
        _ => return None,
    };
    let parent_path = rel.parent().filter(|p| !p.as_os_str().is_empty());
    let parent = open_in_root(root, parent_path.unwrap_or(Path::new("."))).ok()?;
    let cname = CString::new(name.as_bytes()).ok()?;
    // SAFETY: plain syscalls on a valid fd and NUL-terminated name.
    let r = unsafe {
        match leaf {
            Leaf::Dir => libc::mkdirat(parent.as_raw_fd(), cname.as_ptr(), 0o755),
            Leaf::File => {
                let fd = libc::openat(
                    parent.as_raw_fd(),
                    cname.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_CLOEXEC
                        | libc::O_NOFOLLOW,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                    0
                } else {
                    -1
                }
            }
        }
    };
    if r != 0 {
        return None;
    }
    openat2(
        parent.as_raw_fd(),
        Path::new(name),
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
        RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH,
    )
    .ok()
}

/// Resolves `path` inside `root` into a symlink-free relative path, following every symlink
/// (dangling ones too) with `/` meaning the root and `..` never leaving it, like runc's
/// securejoin. Creation then still goes through RESOLVE_IN_ROOT, so a racing swap of a
/// component cannot escape either.
fn secure_join(root: &OwnedFd, path: &Path) -> Result<PathBuf> {
    let mut queue: std::collections::VecDeque<std::ffi::OsString> = relative(path)
        .components()
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(comp) = queue.pop_front() {
        if comp == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&comp);
        let c = cstr(&candidate)?;
        let mut buf = vec![0u8; libc::PATH_MAX as usize];
        let n = unsafe {
            libc::readlinkat(
                root.as_raw_fd(),
                c.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            // Not a symlink (EINVAL) or not there yet (ENOENT): a plain component.
            resolved = candidate;
            continue;
        }
        links += 1;
        if links > 40 {
            anyhow::bail!(
                "too many levels of symbolic links resolving {}",
                path.display()
            );
        }
        buf.truncate(n as usize);
        let target = PathBuf::from(std::ffi::OsStr::from_bytes(&buf));
        if target.is_absolute() {
            resolved = PathBuf::new();
        }
        for c in relative(&target).components().rev() {
            queue.push_front(c.as_os_str().to_os_string());
        }
    }
    Ok(resolved)
}

/// statfs f_type of a procfs.
pub const PROC_SUPER_MAGIC: libc::c_long = 0x9fa0;

/// The statfs(2) f_type of the filesystem `fd` is on.
pub fn fs_magic(fd: &OwnedFd) -> std::io::Result<libc::c_long> {
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs fills the struct we pass.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(s.f_type as libc::c_long)
}

/// The magic-link path that names an open fd, usable as a mount(2) source or target.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// File type of an O_PATH fd.
pub fn fd_mode(fd: &OwnedFd) -> Result<u32> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let empty = c"";
    if unsafe { libc::fstatat(fd.as_raw_fd(), empty.as_ptr(), &mut st, libc::AT_EMPTY_PATH) } != 0 {
        return Err(std::io::Error::last_os_error()).context("fstat");
    }
    Ok(st.st_mode)
}

/// Opens any host path as O_PATH (a bind-mount source: files and directories alike).
pub fn open_root_any(path: &Path) -> Result<OwnedFd> {
    openat2(libc::AT_FDCWD, path, libc::O_PATH, 0, 0)
        .with_context(|| format!("open {}", path.display()))
}

/// Turns an O_PATH directory fd into a readable one (for listing it).
pub fn reopen_dir(fd: &OwnedFd) -> Result<OwnedFd> {
    openat2(
        fd.as_raw_fd(),
        Path::new("."),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
        0,
    )
    .context("reopen directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_root() {
        let base = std::env::temp_dir().join(format!("hull-path-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/real")).unwrap();
        std::os::unix::fs::symlink("/", base.join("root/escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", base.join("root/real/up")).unwrap();
        let root = open_root(&base.join("root")).unwrap();
        // "escape/etc-test" must land in root/etc-test, never in the host's /.
        create_in_root(&root, Path::new("/escape/etc-test/x"), Leaf::Dir).unwrap();
        assert!(base.join("root/etc-test/x").is_dir());
        create_in_root(&root, Path::new("real/up/f"), Leaf::File).unwrap();
        assert!(base.join("root/f").is_file());
        assert!(open_in_root_nofollow(&root, Path::new("escape")).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
