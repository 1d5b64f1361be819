//! Building the container's root filesystem in its mount namespace and switching to it.

use super::devices;
use super::mount_options;
use super::mount_syscalls::{self, sys_mount, MountContext};
use super::mounts;
use crate::util::path::{open_root, Leaf};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use std::os::fd::AsRawFd;
use std::path::Path;

fn propagation_flag(p: &str) -> Result<libc::c_ulong> {
    Ok(match p {
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        other => bail!("invalid rootfsPropagation {other:?}"),
    })
}

pub struct RootfsOptions<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroupns: bool,
    pub userns: bool,
    /// How bind sources are opened with the host's credentials (user namespace, idmap).
    pub open_source: &'a mount_syscalls::SourceOpener<'a>,
    /// No mount namespace of its own: leave the propagation of the runtime's mounts alone.
    pub host_mount_ns: bool,
}

/// Mounts everything the spec asks for under the rootfs (still seen from the host's root).
pub fn prepare(o: &RootfsOptions) -> Result<()> {
    if o.host_mount_ns && o.rootfs == Path::new("/") {
        // The host's own root in the host's mount namespace: a bind over our own "/" would be
        // invisible to us and detaching it on delete would hit the real root, and mounts or
        // device nodes would land on the host. Like runc, which prepares no rootfs without a
        // mount namespace, do nothing; mounts asked for are refused rather than dropped.
        if o.spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
            bail!("mounts need a mount namespace when the root is the host's \"/\"");
        }
        return Ok(());
    }
    let linux = o.spec.linux().as_ref();
    // Stop our mounts from propagating back to the host, and host mounts from leaking in
    // except as the spec's propagation asks (runc's default is rslave). The flag is applied to
    // "/" as given (not made recursive), like runc.
    if !o.host_mount_ns {
        let root_flag = root_propagation(o.spec)?.unwrap_or(libc::MS_SLAVE | libc::MS_REC);
        sys_mount(None, "/", None, root_flag, None).context("setting the propagation of /")?;
        // pivot_root refuses a new root whose parent mount is shared, and our bind of the
        // rootfs would propagate to the parent's peers: make that parent private first.
        make_parent_mount_private(o.rootfs)?;
    }
    let rootfs = o.rootfs.to_str().context("rootfs path is not UTF-8")?;
    // pivot_root needs the new root to be a mount point; in the runtime's namespace it keeps
    // the container's mounts in one tree (one detach removes them) and makes a read-only root
    // a remount of this bind only.
    sys_mount(
        Some(rootfs),
        rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .context("bind-mounting rootfs")?;
    let root = open_root(o.rootfs)?;
    let ctx = MountContext {
        root: &root,
        bundle: o.bundle,
        cgroupns: o.cgroupns,
        userns: o.userns,
        open_source: o.open_source,
        userns_maps: super::idmap::container_maps(linux),
    };
    let dev = mount_all(&ctx, o.spec)?;
    let spec_devices: &[_] = linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]);
    let userns_open = o.userns.then_some(o.open_source);
    // Sharing the runtime's mount namespace, /dev under the rootfs may be the host's own (a
    // rootfs of "/"): runc sets up no devices without a mount namespace, and neither do we.
    if dev.setup_nodes && !o.host_mount_ns {
        devices::create_default_devices(&root, userns_open, spec_devices, !dev.mounted)?;
        devices::create_symlinks(&root, dev.has_devpts)?;
    }
    if !o.host_mount_ns {
        devices::create_spec_devices(&root, userns_open, spec_devices)?;
    }
    crate::util::path::create_in_root(&root, Path::new("/dev"), Leaf::Dir).ok();
    if dev.readonly {
        let fd = crate::util::path::open_in_root(&root, Path::new("/dev"))?;
        let p = crate::util::path::fd_path(&fd);
        let flags = libc::MS_BIND | libc::MS_RDONLY | mount_syscalls::mount_flags(&p);
        mount_syscalls::remount_bind(&p, flags, o.userns).context("remounting /dev read-only")?;
    }
    create_cwd(&root, o.spec)
}

/// What the spec's mounts say about /dev.
#[derive(Default)]
struct DevSetup {
    /// The spec mounts something on /dev.
    mounted: bool,
    /// Default nodes and links go into /dev: unless it is a bind mount (runc's rule), into the
    /// spec's /dev mount or, without one, into the rootfs's own /dev.
    setup_nodes: bool,
    has_devpts: bool,
    /// /dev is mounted writable and made read-only once everything below it exists (as runc).
    readonly: bool,
}

/// Performs the spec's mounts in order.
fn mount_all(ctx: &MountContext, spec: &Spec) -> Result<DevSetup> {
    let mut dev = DevSetup {
        setup_nodes: true,
        ..Default::default()
    };
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination().to_string_lossy();
        let dest = dest.trim_end_matches('/');
        dev.has_devpts |= dest == "/dev/pts" && m.typ().as_deref() == Some("devpts");
        if dest == "/dev" {
            let opts = m.options().as_deref().unwrap_or(&[]);
            dev.mounted = true;
            dev.setup_nodes = !opts.iter().any(|o| o == "bind" || o == "rbind")
                && m.typ().as_deref() != Some("bind");
            dev.readonly = mount_options::parse(opts).flags & libc::MS_RDONLY != 0;
            if dev.readonly {
                let mut rw = m.clone();
                rw.set_options(Some(opts.iter().filter(|o| *o != "ro").cloned().collect()));
                mounts::mount_entry(ctx, &rw)?;
                continue;
            }
        }
        mounts::mount_entry(ctx, m)?;
    }
    Ok(dev)
}

/// A missing process.cwd is created (0755, inside the rootfs), as runc does.
fn create_cwd(root: &std::os::fd::OwnedFd, spec: &Spec) -> Result<()> {
    if let Some(cwd) = spec.process().as_ref().map(|p| p.cwd()) {
        if !cwd.as_os_str().is_empty() {
            crate::util::path::create_in_root(root, cwd, Leaf::Dir)
                .with_context(|| format!("creating cwd {}", cwd.display()))?;
        }
    }
    Ok(())
}

/// linux.rootfsPropagation as mount(2) flags, if set.
fn root_propagation(spec: &Spec) -> Result<Option<libc::c_ulong>> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
        .map(propagation_flag)
        .transpose()
}

/// Applies linux.rootfsPropagation to the container's `/`. It must come after pivot_root
/// (which refuses shared mounts) and apply to the new root, not to the host's mounts.
pub fn apply_root_propagation(spec: &Spec) -> Result<()> {
    if let Some(f) = root_propagation(spec)? {
        sys_mount(None, "/", None, f, None).context("setting rootfsPropagation")?;
    }
    Ok(())
}

/// Makes the mount the rootfs lives on private: walk up from the rootfs until mount(2)
/// accepts the path (EINVAL means "not a mount point"). Done unconditionally, like runc 1.2+:
/// no mountinfo parsing on the hot path, and the container's `/` then never stays a peer or
/// slave of a host mount except as rootfsPropagation asks after the pivot.
fn make_parent_mount_private(rootfs: &Path) -> Result<()> {
    let mut path = rootfs;
    loop {
        let p = path.to_str().context("rootfs path is not UTF-8")?;
        match sys_mount(None, p, None, libc::MS_PRIVATE, None) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => match path.parent() {
                Some(parent) => path = parent,
                None => return Err(e).context("making / private"),
            },
            Err(e) => return Err(e).with_context(|| format!("making {p} private")),
        }
    }
}

/// Makes the rootfs the container's `/` with pivot_root, detaching the old root entirely so
/// no host path stays reachable.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let new_root = open_root(rootfs)?;
    let old_root = open_root(Path::new("/"))?;
    if unsafe { libc::fchdir(new_root.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chdir to rootfs");
    }
    // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
    // removes the old root without needing a directory for it inside the container.
    let dot = c".";
    if unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pivot_root");
    }
    if unsafe { libc::fchdir(old_root.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chdir to old root");
    }
    sys_mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None)
        .context("making old root a slave")?;
    if unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(std::io::Error::last_os_error()).context("unmounting old root");
    }
    drop(old_root);
    if unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chdir /");
    }
    Ok(())
}

/// --no-pivot: move the rootfs over / and chroot (for ramdisk roots where pivot_root fails).
pub fn move_root(rootfs: &Path) -> Result<()> {
    let r = rootfs.to_str().context("rootfs path is not UTF-8")?;
    hide_host_proc_and_sys(rootfs)?;
    // The rootfs lands on "/": if "/" were shared (rootfsPropagation rshared), the move would
    // propagate to the host's "/" (runc issue 1961). The requested propagation is applied to
    // the new root afterwards.
    sys_mount(None, "/", None, libc::MS_PRIVATE, None).context("making / private")?;
    std::env::set_current_dir(rootfs).context("chdir to rootfs")?;
    sys_mount(Some(r), "/", None, libc::MS_MOVE, None).context("moving rootfs to /")?;
    if unsafe { libc::chroot(c".".as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chroot");
    }
    std::env::set_current_dir("/").context("chdir /")?;
    Ok(())
}

/// Without pivot_root the host's mounts stay in our mount namespace, outside the chroot. A
/// full procfs or sysfs among them would let a user namespace inside the container mount a
/// fresh, unmasked one (the kernel only checks that some full mount is visible in the
/// namespace). So, as runc does, detach every full proc/sysfs mount outside the rootfs, or
/// cover it with an empty tmpfs where it cannot be unmounted.
fn hide_host_proc_and_sys(rootfs: &Path) -> Result<()> {
    let info = crate::util::mountinfo::read()?;
    let mut mount_points = std::collections::HashMap::new();
    let mut targets = Vec::new();
    for e in crate::util::mountinfo::entries(&info) {
        let mp = crate::util::mountinfo::unescape(e.mount_point);
        if e.root == "/"
            && matches!(e.fstype, "proc" | "sysfs")
            && !Path::new(&mp).starts_with(rootfs)
        {
            targets.push((mp.clone(), e.parent));
        }
        mount_points.insert(e.id, mp);
    }
    // Deepest first, so a parent's detach does not hide a child still to handle.
    targets.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    for (t, parent) in targets {
        // Keep the unmount from propagating anywhere: the kernel sends an unmount to the
        // peers of the PARENT mount (with rootfsPropagation rshared the host's "/" is one),
        // so that parent stops sending first; the mount itself for its own submounts.
        if let Some(p) = mount_points.get(parent) {
            match sys_mount(None, p, None, libc::MS_SLAVE, None) {
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINVAL)) => {}
                r => r.with_context(|| format!("making {p} a slave"))?,
            }
        }
        match sys_mount(None, &t, None, libc::MS_SLAVE | libc::MS_REC, None) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            r => r.with_context(|| format!("making {t} a slave"))?,
        }
        let c = std::ffi::CString::new(t.as_str())?;
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            let e = std::io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EPERM)) {
                return Err(e).with_context(|| format!("unmounting {t}"));
            }
            sys_mount(Some("tmpfs"), &t, Some("tmpfs"), 0, None)
                .with_context(|| format!("covering {t}"))?;
        }
    }
    Ok(())
}

/// No mount namespace: chroot into the rootfs (as runc).
pub fn chroot(rootfs: &Path) -> Result<()> {
    std::env::set_current_dir(rootfs).context("chdir to rootfs")?;
    if unsafe { libc::chroot(c".".as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chroot");
    }
    std::env::set_current_dir("/").context("chdir /")
}

/// Remounts / read-only (root.readonly).
pub fn make_root_readonly() -> Result<()> {
    mount_syscalls::remount_bind(
        "/",
        libc::MS_BIND | libc::MS_RDONLY | mount_syscalls::mount_flags("/"),
        true,
    )
    .context("remounting / read-only")
}
