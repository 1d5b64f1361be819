//! Device nodes in the container's /dev: the default set every container gets, the spec's
//! `linux.devices` (anywhere in the rootfs, as runc allows), and the standard /dev symlinks.
//! In a user namespace mknod is not permitted, so the host's node is bind-mounted onto an
//! empty file instead (as runc does), opened with the host's credentials; the host node must
//! be the very device asked for.

use super::mount_syscalls::SourceOpener;
use crate::util::path::{create_in_root, fd_path, open_in_root, Leaf};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

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

/// `userns`: how to open host nodes for binding, when mknod is not permitted.
/// `keep_existing`: /dev is the rootfs's own (no /dev mount): an entry the image already has
/// is left alone, as runc does (a fake /dev/null is then refused by the masking check rather
/// than silently replaced in the image).
pub fn create_default_devices(
    root: &OwnedFd,
    userns: Option<&SourceOpener>,
    spec_devices: &[LinuxDevice],
    keep_existing: bool,
) -> Result<()> {
    for &(path, major, minor) in DEFAULT_DEVICES {
        // An explicit entry in linux.devices wins over the default.
        if spec_devices.iter().any(|d| d.path() == Path::new(path)) {
            continue;
        }
        if keep_existing && open_in_root(root, Path::new(path)).is_ok() {
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

pub fn create_spec_devices(
    root: &OwnedFd,
    userns: Option<&SourceOpener>,
    devices: &[LinuxDevice],
) -> Result<()> {
    for d in devices {
        let kind = node_kind(d)?;
        let path = d.path().to_string_lossy();
        if !path.starts_with('/') {
            bail!("device path {path} must be absolute");
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

/// The file type of a linux.devices entry.
fn node_kind(d: &LinuxDevice) -> Result<libc::mode_t> {
    Ok(match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => bail!(
            "device {}: type 'a' is only valid in cgroup rules",
            d.path().display()
        ),
    })
}

/// A device by file type and number: what a host node bound into a container in a user
/// namespace must be.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceId {
    pub kind: libc::mode_t,
    pub rdev: libc::dev_t,
}

impl DeviceId {
    fn of(n: &Node) -> DeviceId {
        DeviceId {
            kind: n.kind,
            rdev: libc::makedev(n.major as u32, n.minor as u32),
        }
    }

    /// The file `fd` refers to (an opened node, or a detached mount of one).
    pub fn of_fd(fd: &OwnedFd) -> Result<DeviceId> {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstatat(fd.as_raw_fd(), c"".as_ptr(), &mut st, libc::AT_EMPTY_PATH) } != 0
        {
            return Err(std::io::Error::last_os_error()).context("fstat");
        }
        Ok(DeviceId {
            kind: st.st_mode & libc::S_IFMT,
            rdev: st.st_rdev,
        })
    }
}

/// The devices a container in a user namespace may bind from the host, and the host paths it
/// may take them from: the default set and its linux.devices (FIFOs are made there, not
/// bound), at their own paths or anywhere in the host's /dev (see bind_host_node).
pub fn bindable(spec_devices: &[LinuxDevice]) -> (Vec<DeviceId>, Vec<PathBuf>) {
    let defaults = DEFAULT_DEVICES.iter().map(|&(_, major, minor)| DeviceId {
        kind: libc::S_IFCHR,
        rdev: libc::makedev(major as u32, minor as u32),
    });
    let spec = spec_devices.iter().filter_map(|d| {
        let kind = node_kind(d).ok().filter(|k| *k != libc::S_IFIFO)?;
        Some(DeviceId {
            kind,
            rdev: libc::makedev(d.major() as u32, d.minor() as u32),
        })
    });
    let paths = DEFAULT_DEVICES
        .iter()
        .map(|&(p, _, _)| PathBuf::from(p))
        .chain(spec_devices.iter().map(|d| d.path().clone()))
        .collect();
    (defaults.chain(spec).collect(), paths)
}

fn create_node(root: &OwnedFd, n: &Node, userns: Option<&SourceOpener>) -> Result<()> {
    let path = Path::new(n.path);
    let parent = create_in_root(root, path.parent().unwrap_or(Path::new("/dev")), Leaf::Dir)?;
    let name = CString::new(
        path.file_name()
            .map(|f| f.as_encoded_bytes())
            .unwrap_or_default(),
    )?;
    if let Some(open) = userns.filter(|_| n.kind != libc::S_IFIFO) {
        return bind_host_node(root, n, open);
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

/// In a user namespace: binds the host's node onto an empty file. The host node at the same
/// path is used when it is the device asked for (runc's rule); otherwise the host's node of
/// that device, found through /sys/dev. Never a missing or different host file.
fn bind_host_node(root: &OwnedFd, n: &Node, open: &SourceOpener) -> Result<()> {
    let tree = match open_host_node(n, Path::new(n.path), open)? {
        Some(t) => t,
        None => {
            let other = host_node_path(n).with_context(|| {
                format!(
                    "device {}: mknod is not permitted in a user namespace and the host has no device {}:{} to bind",
                    n.path, n.major, n.minor
                )
            })?;
            open_host_node(n, &other, open)?.with_context(|| {
                format!(
                    "device {}: host {} is not {}:{}",
                    n.path,
                    other.display(),
                    n.major,
                    n.minor
                )
            })?
        }
    };
    let target = create_in_root(root, Path::new(n.path), Leaf::File)?;
    super::mount_fd::attach(&tree, &target)
        .with_context(|| format!("bind-mounting host {}", n.path))
}

/// The host node at `path` as a detached mount, if it exists and is the device `n`.
fn open_host_node(n: &Node, path: &Path, open: &SourceOpener) -> Result<Option<OwnedFd>> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let c = CString::new(path.as_os_str().as_encoded_bytes())?;
    if unsafe { libc::stat(c.as_ptr(), &mut st) } != 0 {
        return Ok(None);
    }
    let want = DeviceId::of(n);
    if st.st_mode & libc::S_IFMT != want.kind || st.st_rdev != want.rdev {
        return Ok(None);
    }
    let tree = open(&super::mount_fd::SourceRequest {
        path: path.into(),
        recursive: false,
        idmap: None,
    })?;
    // Checked again on what was opened: the path could have changed in between.
    Ok((DeviceId::of_fd(&tree)? == want).then_some(tree))
}

/// The host's /dev path of device `n`, from /sys/dev/{char,block}/M:m/uevent's DEVNAME.
fn host_node_path(n: &Node) -> Option<std::path::PathBuf> {
    let kind = if n.kind == libc::S_IFBLK {
        "block"
    } else {
        "char"
    };
    let uevent =
        std::fs::read_to_string(format!("/sys/dev/{kind}/{}:{}/uevent", n.major, n.minor)).ok()?;
    let name = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME="))?;
    // Relative and without "..": Path::join would replace /dev with an absolute name.
    if name.starts_with('/') || name.split('/').any(|c| c == "..") {
        return None;
    }
    Some(Path::new("/dev").join(name))
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
