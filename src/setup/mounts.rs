//! Performing the spec's mounts inside the new mount namespace, before pivot_root. Targets are
//! always resolved inside the rootfs (see util::path) and mounted through /proc/self/fd.

use super::cgroupfs;
use super::mount_options::{self, MountOptions};
use super::mount_syscalls::{remount_bind, sys_mount, MountContext};
use crate::util::path::{create_in_root, fd_path, open_in_root, open_in_root_nofollow, Leaf};
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::Mount;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Applies recursive mount attributes (rro, rnosuid, ...) with mount_setattr(AT_RECURSIVE).
pub fn setattr_recursive(fd: &OwnedFd, set: u64, clr: u64) -> std::io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn destination(m: &Mount) -> PathBuf {
    let d = m.destination();
    if d.is_absolute() {
        d.clone()
    } else {
        Path::new("/").join(d)
    }
}

/// Mounts one entry of `config.mounts`.
pub fn mount_entry(ctx: &MountContext, m: &Mount) -> Result<()> {
    let dest = destination(m);
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = mount_options::parse(m.options().as_deref().unwrap_or(&[]));
    let r = if typ == "cgroup" || typ == "cgroup2" {
        cgroupfs::mount_cgroups(ctx, &dest, &opts)
    } else if opts.is_bind {
        mount_bind(ctx, m, &dest, &opts)
    } else {
        mount_fs(ctx, m, typ, &dest, &opts)
    };
    r.with_context(|| {
        format!(
            "mount {} to {}",
            m.source()
                .as_ref()
                .map_or("none".into(), |s| s.display().to_string()),
            dest.display()
        )
    })
}

fn mount_bind(ctx: &MountContext, m: &Mount, dest: &Path, opts: &MountOptions) -> Result<()> {
    let src = m.source().as_ref().context("bind mount without source")?;
    let src = if src.is_absolute() {
        src.clone()
    } else {
        ctx.bundle.join(src)
    };
    let meta = std::fs::metadata(&src).with_context(|| format!("bind source {}", src.display()))?;
    let leaf = if meta.is_dir() { Leaf::Dir } else { Leaf::File };
    let target = create_in_root(ctx.root, dest, leaf)?;
    let src_fd = crate::util::path::open_root_any(&src)?;
    sys_mount(
        Some(&fd_path(&src_fd)),
        &fd_path(&target),
        None,
        opts.flags & (libc::MS_BIND | libc::MS_REC),
        None,
    )
    .context("bind")?;
    drop(target);
    let mounted = open_in_root(ctx.root, dest)?;
    let extra = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
    if extra != 0 || opts.cleared & libc::MS_RDONLY != 0 {
        remount_bind(&fd_path(&mounted), opts.flags, ctx.userns)?;
    }
    finish(&mounted, opts)
}

fn mount_fs(
    ctx: &MountContext,
    m: &Mount,
    typ: &str,
    dest: &Path,
    opts: &MountOptions,
) -> Result<()> {
    // /proc and /sys must be real directories: mounting them through a symlink could cover a
    // host path, and procfs/sysfs in the wrong place defeats masked paths.
    let target = if typ == "proc" || typ == "sysfs" {
        match open_in_root_nofollow(ctx.root, dest) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                create_in_root(ctx.root, dest, Leaf::Dir)?
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => bail!(
                "{} is a symlink; refusing to mount {typ} there",
                dest.display()
            ),
            Err(e) => return Err(anyhow!(e).context(format!("resolving {}", dest.display()))),
        }
    } else {
        create_in_root(ctx.root, dest, Leaf::Dir)?
    };
    if (typ == "proc" || typ == "sysfs")
        && crate::util::path::fd_mode(&target)? & libc::S_IFMT != libc::S_IFDIR
    {
        bail!("{} is not a directory", dest.display());
    }
    // Keep the covered directory reachable for tmpcopyup.
    let lower = if opts.tmpcopyup {
        Some(crate::util::path::reopen_dir(&target)?)
    } else {
        None
    };
    let src = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned());
    let src = src.as_deref().or(Some(typ));
    sys_mount(
        src,
        &fd_path(&target),
        Some(typ),
        opts.flags & !libc::MS_REMOUNT,
        Some(&opts.data),
    )?;
    drop(target);
    let mounted = open_in_root(ctx.root, dest)?;
    if let Some(lower) = lower {
        copy_up(&lower, &mounted).context("tmpcopyup")?;
    }
    finish(&mounted, opts)
}

/// Propagation changes and recursive attributes, applied once the mount exists.
fn finish(mounted: &OwnedFd, opts: &MountOptions) -> Result<()> {
    for &p in &opts.propagation {
        sys_mount(None, &fd_path(mounted), None, p, None).context("setting propagation")?;
    }
    if opts.attr_set != 0 || opts.attr_clr != 0 {
        setattr_recursive(mounted, opts.attr_set, opts.attr_clr).context("mount_setattr")?;
    }
    Ok(())
}

/// Copies the contents of the directory that a tmpfs now covers into the tmpfs (tmpcopyup).
fn copy_up(lower: &OwnedFd, upper: &OwnedFd) -> Result<()> {
    let from = PathBuf::from(fd_path(lower));
    let to_fd = crate::util::path::reopen_dir(upper)?;
    let to = PathBuf::from(fd_path(&to_fd));
    copy_tree(&from, &to)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            continue;
        }
        if !ft.is_symlink() {
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
        let _ = std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()));
    }
    Ok(())
}
