//! The container's user namespace id maps: checked before anything is created (overlaps,
//! and for an unprivileged caller whether it may map those ids at all), then written by the
//! parent while the init waits — directly where the kernel allows it, else (an unprivileged
//! caller mapping more than its own id) with the setuid helpers `newuidmap`/`newgidmap`,
//! which check the caller's subordinate ids in /etc/subuid and /etc/subgid.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxIdMapping, Spec};
use std::path::Path;

/// Which map: the names used in config.json, /proc and the helpers.
#[derive(Clone, Copy)]
enum Kind {
    Uid,
    Gid,
}

impl Kind {
    fn field(self) -> &'static str {
        match self {
            Kind::Uid => "uidMappings",
            Kind::Gid => "gidMappings",
        }
    }
    fn proc_file(self) -> &'static str {
        match self {
            Kind::Uid => "uid_map",
            Kind::Gid => "gid_map",
        }
    }
    fn helper(self) -> &'static str {
        match self {
            Kind::Uid => "newuidmap",
            Kind::Gid => "newgidmap",
        }
    }
    fn subid_file(self) -> &'static str {
        match self {
            Kind::Uid => "/etc/subuid",
            Kind::Gid => "/etc/subgid",
        }
    }
    /// The caller's own effective id of this kind.
    fn own_id(self) -> u32 {
        // SAFETY: geteuid/getegid cannot fail.
        unsafe {
            match self {
                Kind::Uid => libc::geteuid(),
                Kind::Gid => libc::getegid(),
            }
        }
    }
}

fn maps(spec: &Spec, kind: Kind) -> &[LinuxIdMapping] {
    let linux = spec.linux().as_ref();
    match kind {
        Kind::Uid => linux.and_then(|l| l.uid_mappings().as_deref()),
        Kind::Gid => linux.and_then(|l| l.gid_mappings().as_deref()),
    }
    .unwrap_or(&[])
}

fn describe(m: &LinuxIdMapping) -> String {
    format!(
        "{{containerID: {}, hostID: {}, size: {}}}",
        m.container_id(),
        m.host_id(),
        m.size()
    )
}

fn end(start: u32, size: u32) -> u64 {
    start as u64 + size as u64
}

fn overlaps(a_start: u32, a_size: u32, b_start: u32, b_size: u32) -> bool {
    (a_start as u64) < end(b_start, b_size) && (b_start as u64) < end(a_start, a_size)
}

/// Overlapping ranges (on either side) and empty or wrapping ranges: the kernel refuses
/// them with a bare EINVAL, so name the mapping here.
fn check_shape(kind: Kind, list: &[LinuxIdMapping]) -> Result<()> {
    for (i, m) in list.iter().enumerate() {
        if m.size() == 0 {
            bail!("{}: mapping {} has size 0", kind.field(), describe(m));
        }
        if end(m.container_id(), m.size()) > u32::MAX as u64
            || end(m.host_id(), m.size()) > u32::MAX as u64
        {
            bail!(
                "{}: mapping {} goes past the last id 4294967294",
                kind.field(),
                describe(m)
            );
        }
        for o in &list[..i] {
            let side = if overlaps(m.container_id(), m.size(), o.container_id(), o.size()) {
                "container"
            } else if overlaps(m.host_id(), m.size(), o.host_id(), o.size()) {
                "host"
            } else {
                continue;
            };
            bail!(
                "{}: mapping {} overlaps mapping {} in {side} ids",
                kind.field(),
                describe(m),
                describe(o)
            );
        }
    }
    Ok(())
}

/// A map the kernel lets an unprivileged caller write itself: one id, the caller's own.
fn is_own_single(kind: Kind, list: &[LinuxIdMapping]) -> bool {
    matches!(list, [m] if m.size() == 1 && m.host_id() == kind.own_id())
}

/// The caller's subordinate id ranges (start, count) from /etc/subuid or /etc/subgid, whose
/// lines name the user by name or by uid.
fn subordinate_ranges(kind: Kind) -> Vec<(u32, u32)> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let name = nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map(|u| u.name);
    let text = std::fs::read_to_string(kind.subid_file()).unwrap_or_default();
    parse_subids(&text, uid, name.as_deref())
}

fn parse_subids(text: &str, uid: u32, name: Option<&str>) -> Vec<(u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, ':');
            let owner = f.next()?;
            let start = f.next()?.parse().ok()?;
            let count = f.next()?.parse().ok()?;
            (Some(owner) == name || owner == uid.to_string()).then_some((start, count))
        })
        .collect()
}

fn within_any(m: &LinuxIdMapping, ranges: &[(u32, u32)]) -> bool {
    ranges
        .iter()
        .any(|&(s, c)| m.host_id() >= s && end(m.host_id(), m.size()) <= end(s, c))
}

/// Finds `newuidmap`/`newgidmap` in the usual places (hull may run with an empty PATH).
fn find_helper(kind: Kind) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .filter(|d| !d.is_empty())
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(kind.helper()))
        .find(|p| p.is_file());
    found
}

/// For an unprivileged caller: every mapping is either its own id or within its subordinate
/// ids, and the helper needed for the latter exists.
fn check_permitted(kind: Kind, list: &[LinuxIdMapping]) -> Result<()> {
    if list.is_empty() || is_own_single(kind, list) {
        return Ok(());
    }
    let ranges = subordinate_ranges(kind);
    for m in list {
        let own = m.size() == 1 && m.host_id() == kind.own_id();
        if !own && !within_any(m, &ranges) {
            bail!(
                "{}: mapping {} is not permitted: host ids other than the caller's own ({}) \
                 must be subordinate ids of the caller in {}",
                kind.field(),
                describe(m),
                kind.own_id(),
                kind.subid_file()
            );
        }
    }
    if find_helper(kind).is_none() {
        bail!(
            "{}: mapping more than the caller's own id needs {} (Debian package uidmap), which \
             is not installed",
            kind.field(),
            kind.helper()
        );
    }
    Ok(())
}

/// Checks both maps before anything is created, so bad mappings leave nothing behind.
/// `new_user_ns`: the container gets a new user namespace (whose maps we write);
/// `joins_user_ns`: it joins an existing one (already mapped).
pub fn validate(spec: &Spec, new_user_ns: bool, joins_user_ns: bool) -> Result<()> {
    // SAFETY: geteuid cannot fail.
    let unprivileged = unsafe { libc::geteuid() } != 0;
    if unprivileged && !new_user_ns && !joins_user_ns {
        // runc's words (its rootless validator).
        bail!("rootless container requires user namespaces");
    }
    for kind in [Kind::Uid, Kind::Gid] {
        let list = maps(spec, kind);
        check_shape(kind, list)?;
        if unprivileged && new_user_ns {
            if list.is_empty() {
                bail!(
                    "rootless containers requires at least one {} mapping ({})",
                    match kind {
                        Kind::Uid => "UID",
                        Kind::Gid => "GID",
                    },
                    kind.field()
                );
            }
            check_permitted(kind, list)?;
        }
    }
    if unprivileged {
        check_mount_options(spec)?;
    }
    Ok(())
}

/// Whether container id `id` is inside one of the mappings.
fn maps_container_id(list: &[LinuxIdMapping], id: u32) -> bool {
    list.iter()
        .any(|m| id >= m.container_id() && (id as u64) < end(m.container_id(), m.size()))
}

/// runc's rootless rule for mount options: a `uid=`/`gid=` option (devpts, tmpfs) must name
/// an id the container's user namespace maps, or the mount fails later with a bare EINVAL.
fn check_mount_options(spec: &Spec) -> Result<()> {
    for m in spec.mounts().as_deref().unwrap_or(&[]) {
        for opt in m.options().as_deref().unwrap_or(&[]) {
            let (kind, value) = match opt.split_once('=') {
                Some(("uid", v)) => (Kind::Uid, v),
                Some(("gid", v)) => (Kind::Gid, v),
                _ => continue,
            };
            // Options that are not numbers are the filesystem's business.
            let Ok(id) = value.parse::<u32>() else {
                continue;
            };
            if !maps_container_id(maps(spec, kind), id) {
                let (name, _) = opt.split_once('=').unwrap_or_default();
                // runc's words first, then which mount and option.
                bail!(
                    "cannot specify {name}= mount options for unmapped {name} in rootless \
                     containers: mount {} has {opt}, which {} does not map",
                    m.destination().display(),
                    kind.field()
                );
            }
        }
    }
    Ok(())
}

fn map_text(list: &[LinuxIdMapping]) -> String {
    list.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

fn write_one(pid: i32, kind: Kind, list: &[LinuxIdMapping]) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let proc_file = format!("/proc/{pid}/{}", kind.proc_file());
    // SAFETY: geteuid cannot fail.
    let unprivileged = unsafe { libc::geteuid() } != 0;
    if !unprivileged || is_own_single(kind, list) {
        if unprivileged && matches!(kind, Kind::Gid) {
            // The kernel lets an unprivileged process write a gid map only once setgroups is
            // denied (else it could drop supplementary groups it was denied through).
            crate::util::fs::write_value(Path::new(&format!("/proc/{pid}/setgroups")), "deny")?;
        }
        return crate::util::fs::write_value(Path::new(&proc_file), &map_text(list))
            .with_context(|| format!("writing {}", kind.proc_file()));
    }
    run_helper(pid, kind, list)
}

/// `newuidmap PID ID LOWER COUNT...`: the helper checks the caller's subordinate ids.
fn run_helper(pid: i32, kind: Kind, list: &[LinuxIdMapping]) -> Result<()> {
    let helper = find_helper(kind).with_context(|| format!("{} not found", kind.helper()))?;
    let mut cmd = std::process::Command::new(&helper);
    cmd.arg(pid.to_string());
    for m in list {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {}", helper.display()))?;
    if !out.status.success() {
        bail!(
            "{}: {} failed ({}): {}",
            kind.field(),
            kind.helper(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Writes the init's uid and gid maps (the init waits in its new user namespace).
pub fn write(pid: i32, spec: &Spec) -> Result<()> {
    write_one(pid, Kind::Uid, maps(spec, Kind::Uid))?;
    write_one(pid, Kind::Gid, maps(spec, Kind::Gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: u32, h: u32, s: u32) -> LinuxIdMapping {
        oci_spec::runtime::LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(s)
            .build()
            .unwrap()
    }

    #[test]
    fn shapes() {
        assert!(check_shape(Kind::Uid, &[m(0, 1000, 1), m(1, 100000, 65536)]).is_ok());
        let e = check_shape(Kind::Uid, &[m(0, 1000, 10), m(5, 2000, 10)]).unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{e}");
        assert!(e.to_string().contains("container ids"), "{e}");
        let e = check_shape(Kind::Gid, &[m(0, 1000, 10), m(50, 1005, 1)]).unwrap_err();
        assert!(e.to_string().contains("host ids"), "{e}");
        assert!(e.to_string().starts_with("gidMappings"), "{e}");
        assert!(check_shape(Kind::Uid, &[m(0, 0, 0)]).is_err());
        assert!(check_shape(Kind::Uid, &[m(0, u32::MAX - 1, 5)]).is_err());
    }

    #[test]
    fn subids() {
        let text = "alice:100000:65536\n1001:200000:10\nbob:300000:5\nbad line\n";
        assert_eq!(
            parse_subids(text, 1001, Some("alice")),
            vec![(100000, 65536), (200000, 10)]
        );
        assert!(within_any(&m(1, 100000, 65536), &[(100000, 65536)]));
        assert!(!within_any(&m(1, 100000, 65537), &[(100000, 65536)]));
    }
}
