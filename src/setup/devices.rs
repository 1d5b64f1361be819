//! Device nodes in the container's /dev: the default set every container gets, the spec's
//! `linux.devices`, and the standard /dev symlinks. In a user namespace mknod is not permitted,
//! so the host's node is bind-mounted onto an empty file instead (as runc does).

use super::mount_syscalls::sys_mount;
use crate::util::path::{create_in_root, fd_path, open_in_root, Leaf};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// A device node to create.
pub struct Node<'a> {
    pub path: &'a str,
    pub kind: libc::mode_t,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container has (runc's default set).
pub const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

pub fn create_default_devices(
    root: &OwnedFd,
    userns: bool,
    spec_devices: &[LinuxDevice],
) -> Result<()> {
    for &(path, major, minor) in DEFAULT_DEVICES {
        // An explicit entry in linux.devices wins over the default.
        if spec_devices.iter().any(|d| d.path() == Path::new(path)) {
            continue;
        }
        let node = Node {
            path,
            kind: libc::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        };
        create_node(root, &node, userns)?;
    }
    Ok(())
}

pub fn create_spec_devices(root: &OwnedFd, userns: bool, devices: &[LinuxDevice]) -> Result<()> {
    for d in devices {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => bail!(
                "device {}: type 'a' is only valid in cgroup rules",
                d.path().display()
            ),
        };
        let path = d.path().to_string_lossy();
        if !path.starts_with("/dev/") {
            bail!("device path {path} must be under /dev");
        }
        let node = Node {
            path: &path,
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        create_node(root, &node, userns).with_context(|| format!("device {path}"))?;
    }
    Ok(())
}

fn create_node(root: &OwnedFd, n: &Node, userns: bool) -> Result<()> {
    let path = Path::new(n.path);
    let parent = create_in_root(root, path.parent().unwrap_or(Path::new("/dev")), Leaf::Dir)?;
    let name = CString::new(
        path.file_name()
            .map(|f| f.as_encoded_bytes())
            .unwrap_or_default(),
    )?;
    if userns && n.kind != libc::S_IFIFO {
        let target = create_in_root(root, path, Leaf::File)?;
        let host = CString::new(n.path)?;
        return sys_mount(
            Some(host.to_str()?),
            &fd_path(&target),
            None,
            libc::MS_BIND,
            None,
        )
        .with_context(|| format!("bind-mounting host {}", n.path));
    }
    unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), 0) };
    let dev = libc::makedev(n.major as u32, n.minor as u32);
    if unsafe { libc::mknodat(parent.as_raw_fd(), name.as_ptr(), n.kind | n.mode, dev) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("mknod {}", n.path));
    }
    // mknod honours the umask; set the exact mode and owner asked for.
    let fd = open_in_root(root, path)?;
    let p = CString::new(fd_path(&fd))?;
    unsafe {
        libc::chmod(p.as_ptr(), n.mode);
        libc::chown(p.as_ptr(), n.uid, n.gid);
    }
    Ok(())
}

/// /dev/fd, stdin/out/err, /dev/core, and /dev/ptmx pointing at the container's devpts.
pub fn create_symlinks(root: &OwnedFd, has_devpts: bool) -> Result<()> {
    let dev = create_in_root(root, Path::new("/dev"), Leaf::Dir)?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    if has_devpts {
        links.push(("pts/ptmx", "ptmx"));
    }
    for (target, name) in links {
        let t = CString::new(target)?;
        let n = CString::new(name)?;
        if name == "ptmx" {
            unsafe { libc::unlinkat(dev.as_raw_fd(), n.as_ptr(), 0) };
        }
        if unsafe { libc::symlinkat(t.as_ptr(), dev.as_raw_fd(), n.as_ptr()) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e).with_context(|| format!("symlink /dev/{name}"));
            }
        }
    }
    Ok(())
}
