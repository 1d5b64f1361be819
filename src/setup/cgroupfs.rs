//! The container's view of /sys/fs/cgroup, mirroring the host's layout: a cgroup2 mount on a
//! unified host; a tmpfs with one mount per v1 hierarchy (plus `unified` on hybrid hosts).
//! With a cgroup namespace each hierarchy is mounted fresh (the kernel roots it at the
//! container's cgroup); without one, the container's own cgroup directories are bind-mounted.

use super::mount_options::MountOptions;
use super::mount_syscalls::{remount_bind, sys_mount, MountContext};
use crate::util::path::{create_in_root, fd_path, open_in_root, Leaf};
use anyhow::{Context, Result};
use std::path::Path;

/// A cgroup hierarchy mounted on the host.
struct Hierarchy {
    /// Mount point relative to /sys/fs/cgroup ("" for a v2 host's root mount).
    name: String,
    /// cgroup2, or the v1 super options naming its controllers (e.g. "cpu", "name=systemd").
    v2: bool,
    controllers: String,
}

/// Reads the host's cgroup mounts under /sys/fs/cgroup from /proc/self/mountinfo.
fn host_hierarchies() -> Result<Vec<Hierarchy>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    Ok(hierarchies_in(&info))
}

/// The cgroup mounts under /sys/fs/cgroup in mountinfo `info`, one per mount point. A mount
/// point can be listed more than once: /sys mounted again over itself (a bind of / or /sys
/// onto itself, as sandboxes and nested runtimes do) repeats every cgroup mount below it.
/// The last line is the mount on top, the one a path reaches; mounting a hierarchy twice at
/// one place fails (EBUSY).
fn hierarchies_in(info: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    let mut add = |h: Hierarchy| match out.iter_mut().find(|o| o.name == h.name) {
        Some(seen) => *seen = h,
        None => out.push(h),
    };
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mountpoint = pre.split(' ').nth(4).unwrap_or("");
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let super_opts = post.nth(1).unwrap_or("");
        let Some(name) = mountpoint.strip_prefix("/sys/fs/cgroup") else {
            continue;
        };
        let name = name.trim_start_matches('/');
        match fstype {
            "cgroup2" => add(Hierarchy {
                name: name.into(),
                v2: true,
                controllers: String::new(),
            }),
            "cgroup" => {
                let ctrls: Vec<&str> = super_opts
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro")
                            && !o.starts_with("release_agent")
                            && *o != "clone_children"
                            && *o != "noprefix"
                            && *o != "xattr"
                    })
                    .collect();
                add(Hierarchy {
                    name: name.into(),
                    v2: false,
                    controllers: ctrls.join(","),
                });
            }
            _ => {}
        }
    }
    out
}

/// The calling process's cgroup path in hierarchy `h`, from /proc/self/cgroup.
fn own_cgroup(proc_cgroup: &str, h: &Hierarchy) -> String {
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        let matches = if h.v2 {
            ctrls.is_empty()
        } else {
            !ctrls.is_empty()
                && ctrls
                    .split(',')
                    .all(|c| h.controllers.split(',').any(|x| x == c))
        };
        if matches {
            return path.to_string();
        }
    }
    "/".into()
}

pub fn mount_cgroups(ctx: &MountContext, dest: &Path, opts: &MountOptions) -> Result<()> {
    let hierarchies = host_hierarchies()?;
    let flags = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
    let proc_cgroup = if ctx.cgroupns {
        String::new()
    } else {
        std::fs::read_to_string("/proc/self/cgroup")?
    };
    // A pure v2 host: a single cgroup2 mount at the destination.
    if let [h] = hierarchies.as_slice() {
        if h.v2 && h.name.is_empty() {
            return mount_one(ctx, dest, h, flags, &proc_cgroup);
        }
    }
    let target = create_in_root(ctx.root, dest, Leaf::Dir)?;
    sys_mount(
        Some("tmpfs"),
        &fd_path(&target),
        Some("tmpfs"),
        (flags & !libc::MS_RDONLY) | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("mode=755"),
    )
    .context("tmpfs for cgroups")?;
    drop(target);
    for h in hierarchies.iter().filter(|h| !h.name.is_empty()) {
        mount_one(ctx, &dest.join(&h.name), h, flags, &proc_cgroup)?;
    }
    if flags & libc::MS_RDONLY != 0 {
        let t = open_in_root(ctx.root, dest)?;
        sys_mount(
            None,
            &fd_path(&t),
            None,
            libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some("mode=755"),
        )
        .context("remounting cgroup tmpfs read-only")?;
    }
    Ok(())
}

fn mount_one(
    ctx: &MountContext,
    dest: &Path,
    h: &Hierarchy,
    flags: libc::c_ulong,
    proc_cgroup: &str,
) -> Result<()> {
    let target = create_in_root(ctx.root, dest, Leaf::Dir)?;
    let t = fd_path(&target);
    if ctx.cgroupns {
        let (fstype, data) = if h.v2 {
            ("cgroup2", String::new())
        } else {
            ("cgroup", h.controllers.clone())
        };
        sys_mount(Some(fstype), &t, Some(fstype), flags, Some(&data))
            .with_context(|| format!("mounting {fstype} {}", h.controllers))?;
    } else {
        let host = Path::new("/sys/fs/cgroup")
            .join(&h.name)
            .join(own_cgroup(proc_cgroup, h).trim_start_matches('/'));
        sys_mount(
            Some(&host.to_string_lossy()),
            &t,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .with_context(|| format!("binding {}", host.display()))?;
        drop(target);
        let mounted = open_in_root(ctx.root, dest)?;
        remount_bind(&fd_path(&mounted), flags | libc::MS_BIND, ctx.userns)?;
    }
    Ok(())
}

/// Without a cgroup namespace on a v1/hybrid host, each hierarchy is a bind mount from the
/// host: (its name below the cgroup mount, the host directory) for a process whose
/// /proc/<pid>/cgroup is `proc_cgroup`. CRIU needs these as external mounts. Empty on a pure
/// v2 host, where the container has a real cgroup2 mount.
pub fn v1_bind_sources(proc_cgroup: &str) -> Result<Vec<(String, std::path::PathBuf)>> {
    let hierarchies = host_hierarchies()?;
    if let [h] = hierarchies.as_slice() {
        if h.v2 && h.name.is_empty() {
            return Ok(Vec::new());
        }
    }
    Ok(hierarchies
        .iter()
        .filter(|h| !h.name.is_empty())
        .map(|h| {
            let host = Path::new("/sys/fs/cgroup")
                .join(&h.name)
                .join(own_cgroup(proc_cgroup, h).trim_start_matches('/'));
            (h.name.clone(), host)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::hierarchies_in;

    #[test]
    fn a_sys_mounted_over_itself_lists_each_hierarchy_once() {
        let info = "\
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
59 56 0:22 / /sys rw,relatime - sysfs sysfs rw
60 59 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
61 60 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu,clone_children
88 60 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
89 60 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let h = hierarchies_in(info);
        let names: Vec<(&str, bool, &str)> = h
            .iter()
            .map(|h| (h.name.as_str(), h.v2, h.controllers.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("cpu", false, "cpu"),
                ("systemd", false, "name=systemd"),
                ("unified", true, "")
            ]
        );
    }

    #[test]
    fn a_pure_v2_host_listed_twice_is_still_one_root_mount() {
        let info = "\
31 23 0:28 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
60 59 0:28 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
";
        let h = hierarchies_in(info);
        assert_eq!(h.len(), 1);
        assert!(h[0].v2 && h[0].name.is_empty());
    }
}
