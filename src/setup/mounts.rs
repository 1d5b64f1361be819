//! Performing the spec's mounts inside the new mount namespace, before pivot_root. Targets are
//! always resolved inside the rootfs (see util::path) and mounted through /proc/self/fd.

use super::cgroupfs;
use super::mount_fd::{IdmapRequest, SourceRequest};
use super::mount_options::{self, MountOptions};
use super::mount_syscalls::{mount_flags, sys_mount, MountContext};
use crate::util::path::{create_in_root, fd_path, open_in_root, open_in_root_nofollow, Leaf};
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::Mount;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Where a bind mount comes from.
pub enum BindSource {
    /// An O_PATH fd of the source, resolved by us (no user namespace).
    Path(OwnedFd),
    /// A detached mount tree opened for us with the host's credentials.
    Tree(OwnedFd),
}

impl BindSource {
    pub fn open(ctx: &MountContext, req: SourceRequest) -> Result<BindSource> {
        if ctx.userns || req.idmap.is_some() {
            return Ok(BindSource::Tree((ctx.open_source)(&req)?));
        }
        let fd = crate::util::path::open_root_any(&req.path)
            .map_err(|e| anyhow!("bind source {}: {}", req.path.display(), e.root_cause()))?;
        Ok(BindSource::Path(fd))
    }

    pub fn is_procfs(&self) -> Result<bool> {
        let (BindSource::Path(fd) | BindSource::Tree(fd)) = self;
        Ok(crate::util::path::fs_magic(fd)? == crate::util::path::PROC_SUPER_MAGIC)
    }

    pub fn is_dir(&self) -> Result<bool> {
        let fd = match self {
            BindSource::Path(fd) | BindSource::Tree(fd) => fd,
        };
        Ok(crate::util::path::fd_mode(fd)? & libc::S_IFMT == libc::S_IFDIR)
    }

    /// Mounts the source on `target`; a detached tree's fd is consumed (closed) here.
    pub fn mount_on(self, target: &OwnedFd, flags: libc::c_ulong) -> Result<()> {
        match self {
            BindSource::Path(fd) => sys_mount(
                Some(&fd_path(&fd)),
                &fd_path(target),
                None,
                flags & (libc::MS_BIND | libc::MS_REC),
                None,
            )
            .context("bind"),
            BindSource::Tree(tree) => super::mount_fd::attach(&tree, target),
        }
    }
}

/// Applies recursive mount attributes (rro, rnosuid, ...) with mount_setattr(AT_RECURSIVE).
pub fn setattr_recursive(fd: &OwnedFd, set: u64, clr: u64) -> std::io::Result<()> {
    super::mount_fd::setattr(fd, true, set, clr, None)
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
    } else if is_bind_entry(m, &opts) {
        mount_bind(ctx, m, &dest, &opts)
    } else if m.uid_mappings().is_some() || m.gid_mappings().is_some() || opts.idmap.is_some() {
        Err(anyhow!(
            "idmapped mounts are only supported for bind mounts"
        ))
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
    let source = BindSource::open(ctx, bind_request(m, opts, ctx.bundle, &ctx.userns_maps)?)?;
    // A bind of a procfs counts as a proc mount (runc: allowed over /proc itself).
    let kind = if source.is_procfs()? { "proc" } else { "bind" };
    super::proc_guard::check_dest(dest, kind)?;
    let leaf = if source.is_dir()? {
        Leaf::Dir
    } else {
        Leaf::File
    };
    let target = create_in_root(ctx.root, dest, leaf)?;
    super::proc_guard::check_target(dest, &target)?;
    source.mount_on(&target, opts.flags)?;
    drop(target);
    let mounted = open_in_root(ctx.root, dest)?;
    let extra = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
    // A bind with no flags keeps the source's; any flag set or cleared means a remount with
    // exactly the requested flags (unlike mount(8), which only applies the ones named).
    if extra != 0 || opts.cleared != 0 {
        remount_bind_entry(&fd_path(&mounted), opts, ctx.userns)?;
    }
    finish(&mounted, opts)
}

/// Flags a less privileged mount namespace inherits locked from its source.
const LOCKABLE: libc::c_ulong =
    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// Remounts a bind mount entry with its requested flags, as runc 1.2+ does. In a user
/// namespace the kernel refuses to change flags the source has locked: then the source's
/// lockable flags that were not explicitly cleared are kept (an implied `rw` over a read-only
/// source stays read-only), while an explicit clear of a locked flag (`rw`, `dev`, `suid`,
/// `exec` over a source that has it) fails. atime flags are left to the kernel, which keeps
/// the source's unless one is asked for.
fn remount_bind_entry(target: &str, opts: &MountOptions, userns: bool) -> Result<()> {
    let base = libc::MS_BIND
        | libc::MS_REMOUNT
        | (opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT));
    match sys_mount(None, target, None, base, None) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && userns => {
            let mut src = mount_flags(target);
            // statvfs has no flag for strictatime: it is the absence of the other two, and
            // must be said explicitly or the kernel defaults to relatime (a locked change).
            if src & (libc::MS_NOATIME | libc::MS_RELATIME) == 0 {
                src |= libc::MS_STRICTATIME;
            }
            if src & LOCKABLE & opts.cleared != 0 {
                return Err(e).context("remount (clearing a flag the source mount has locked)");
            }
            sys_mount(None, target, None, base | src, None).context("remount")
        }
        r => r.context("remount"),
    }
}

/// Whether a `config.mounts` entry is a bind mount (see mount_entry).
pub fn is_bind_entry(m: &Mount, opts: &MountOptions) -> bool {
    opts.is_bind && !matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2"))
}

/// The source a bind mount entry asks for: its path (a relative one is in the bundle),
/// whether the whole tree, and its idmapping. The init asks for it, and the parent that opens
/// it checks the request against the same (process::mount_source).
pub fn bind_request(
    m: &Mount,
    opts: &MountOptions,
    bundle: &Path,
    userns_maps: &(String, String),
) -> Result<SourceRequest> {
    let src = m.source().as_ref().context("bind mount without source")?;
    Ok(SourceRequest {
        path: if src.is_absolute() {
            src.clone()
        } else {
            bundle.join(src)
        },
        recursive: opts.flags & libc::MS_REC != 0,
        idmap: idmap_request(m, opts, userns_maps)?,
    })
}

/// The idmapping a bind mount asks for: its own uidMappings/gidMappings, or with only the
/// `idmap`/`ridmap` option the container's. Recursive for `ridmap`, and for an rbind that
/// does not say `idmap`.
fn idmap_request(
    m: &Mount,
    opts: &MountOptions,
    userns_maps: &(String, String),
) -> Result<Option<IdmapRequest>> {
    let text = |v: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        super::idmap::map_text(v.as_deref().unwrap_or(&[]))
    };
    let (uid, gid) = (text(m.uid_mappings()), text(m.gid_mappings()));
    if uid.is_empty() && gid.is_empty() && opts.idmap.is_none() {
        return Ok(None);
    }
    let (uid_map, gid_map) = if uid.is_empty() && gid.is_empty() {
        userns_maps.clone()
    } else {
        (uid, gid)
    };
    if uid_map.is_empty() || gid_map.is_empty() {
        bail!(
            "an idmapped mount needs both uidMappings and gidMappings (its own or the container's)"
        );
    }
    Ok(Some(IdmapRequest {
        uid_map,
        gid_map,
        recursive: opts.idmap.unwrap_or(opts.flags & libc::MS_REC != 0),
    }))
}

fn mount_fs(
    ctx: &MountContext,
    m: &Mount,
    typ: &str,
    dest: &Path,
    opts: &MountOptions,
) -> Result<()> {
    if !super::proc_guard::exempt(typ) {
        super::proc_guard::check_dest(dest, typ)?;
    }
    // A tmpfs without mode= takes the mode of the directory it covers (runc's rule).
    let covered_mode = if typ == "tmpfs" && !has_mode_option(opts) {
        open_in_root(ctx.root, dest)
            .ok()
            .map(|fd| crate::util::path::fd_mode(&fd))
            .transpose()?
    } else {
        None
    };
    // /proc and /sys must be real directories: mounting them through a symlink could cover a
    // host path, and procfs/sysfs in the wrong place defeats masked paths.
    let target = if typ == "proc" || typ == "sysfs" {
        match open_in_root_nofollow(ctx.root, dest) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                create_in_root(ctx.root, dest, Leaf::Dir)?
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => not_ordinary_dir(typ)?,
            Err(e) => return Err(anyhow!(e).context(format!("resolving {}", dest.display()))),
        }
    } else {
        create_in_root(ctx.root, dest, Leaf::Dir)?
    };
    if !super::proc_guard::exempt(typ) {
        super::proc_guard::check_target(dest, &target)?;
    }
    let data = tmpfs_data(typ, opts, covered_mode);
    if (typ == "proc" || typ == "sysfs")
        && crate::util::path::fd_mode(&target)? & libc::S_IFMT != libc::S_IFDIR
    {
        not_ordinary_dir(typ)?;
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
        Some(&super::lsm::label_mount_data(typ, &data)),
    )?;
    drop(target);
    if lower.is_none() && !has_finishing_steps(opts) {
        return Ok(());
    }
    let mounted = open_in_root(ctx.root, dest)?;
    if let Some(lower) = lower {
        copy_up(&lower, &mounted).context("tmpcopyup")?;
    }
    finish(&mounted, opts)
}

/// runc's words for a /proc or /sys destination that is a symlink or not a directory.
fn not_ordinary_dir(typ: &str) -> Result<OwnedFd> {
    bail!("filesystem {typ:?} must be mounted on ordinary directory")
}

fn has_mode_option(opts: &MountOptions) -> bool {
    opts.data.split(',').any(|o| o.starts_with("mode="))
}

/// The filesystem data for the mount: a tmpfs over an existing directory with no `mode=` of
/// its own gets that directory's mode (a new directory keeps tmpfs's 1777).
fn tmpfs_data(typ: &str, opts: &MountOptions, covered_mode: Option<u32>) -> String {
    match covered_mode {
        Some(m)
            if typ == "tmpfs" && !has_mode_option(opts) && m & libc::S_IFMT == libc::S_IFDIR =>
        {
            let mode = format!("mode={:o}", m & 0o7777);
            if opts.data.is_empty() {
                mode
            } else {
                format!("{mode},{}", opts.data)
            }
        }
        _ => opts.data.clone(),
    }
}

/// Whether [`finish`] has anything to do (most mounts: no, and then the new mount need not
/// be reopened).
fn has_finishing_steps(opts: &MountOptions) -> bool {
    !opts.propagation.is_empty() || opts.attr_set != 0 || opts.attr_clr != 0
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
