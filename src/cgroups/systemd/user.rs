//! The user's systemd instance (rootless `--systemd-cgroup`), reached the way runc reaches
//! it: the session bus from DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus, else what
//! `systemctl --user show-environment` says; SASL EXTERNAL with the caller's uid (inside a
//! user namespace the bus owner's uid, from `busctl --user status`, since our uid there is
//! not the one the bus daemon sees). The container's scope lives below the user manager's
//! own cgroup (its ControlGroup property, e.g. /user.slice/user-1000.slice/user@1000.service),
//! and only the controllers delegated to that manager can be used.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where a D-Bus unix transport listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketAddr {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

/// The session bus address to use (runc's DetectUserDbusSessionBusAddress), from the given
/// environment values; `show_environment` is asked only when neither helps.
pub fn session_bus_address(
    env_addr: Option<String>,
    xdg_runtime_dir: Option<String>,
    show_environment: impl FnOnce() -> Result<String>,
) -> Result<String> {
    if let Some(a) = env_addr.filter(|a| !a.is_empty()) {
        return Ok(a);
    }
    if let Some(x) = xdg_runtime_dir.filter(|x| !x.is_empty()) {
        let bus = Path::new(&x).join("bus");
        if bus.exists() {
            return Ok(format!("unix:path={}", bus.display()));
        }
    }
    let text = show_environment().context(
        "no user D-Bus: DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not exist",
    )?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("DBUS_SESSION_BUS_ADDRESS="))
        .map(str::to_string)
        .context(
            "no user D-Bus: DBUS_SESSION_BUS_ADDRESS is not set, $XDG_RUNTIME_DIR/bus does not \
             exist and `systemctl --user show-environment` does not name one (is the user's \
             systemd instance running, with dbus-user-session installed?)",
        )
}

/// `systemctl --user --no-pager show-environment`, as runc's last resort.
pub fn systemctl_show_environment() -> Result<String> {
    let out = std::process::Command::new("systemctl")
        .args(["--user", "--no-pager", "show-environment"])
        .stderr(std::process::Stdio::null())
        .output()
        .context("running `systemctl --user show-environment`")?;
    if !out.status.success() {
        bail!(
            "`systemctl --user show-environment` failed ({})",
            out.status
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Undoes the %xx escapes of a D-Bus address value.
fn unescape(v: &str) -> Result<Vec<u8>> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = v
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .with_context(|| format!("bad %-escape in D-Bus address value {v:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// The first usable unix transport of a D-Bus address ("unix:path=/run/user/1000/bus",
/// possibly several transports separated by ';').
pub fn parse_address(addr: &str) -> Result<SocketAddr> {
    use std::os::unix::ffi::OsStringExt;
    for transport in addr.split(';').filter(|t| !t.is_empty()) {
        let Some(kvs) = transport.strip_prefix("unix:") else {
            continue;
        };
        for kv in kvs.split(',') {
            if let Some(p) = kv.strip_prefix("path=") {
                let p = std::ffi::OsString::from_vec(unescape(p)?);
                return Ok(SocketAddr::Path(PathBuf::from(p)));
            }
            if let Some(a) = kv.strip_prefix("abstract=") {
                return Ok(SocketAddr::Abstract(unescape(a)?));
            }
        }
    }
    bail!("D-Bus address {addr:?} has no unix path= or abstract= transport")
}

/// The uid to authenticate as (runc's DetectUID): ours, or inside a user namespace the
/// owner of the user bus (our uid here means nothing to the bus daemon outside).
pub fn detect_uid() -> Result<u32> {
    if !crate::rootless::running_in_user_ns() {
        // SAFETY: getuid cannot fail.
        return Ok(unsafe { libc::getuid() });
    }
    crate::rootless::systemd_owner_uid()
        .context("could not detect the user bus's OwnerUID with `busctl --user --no-pager status`")
}

/// The cgroup directory below the user manager's cgroup for a plan made relative to the
/// manager ("/user.slice/hull-x.scope" under "/user.slice/user-1000.slice/user@1000.service").
pub fn under_manager(manager_cgroup: &str, relative: &str) -> Result<String> {
    let m = manager_cgroup.trim_end_matches('/');
    if !m.starts_with('/') || m.split('/').any(|c| c == "..") {
        bail!("the user's systemd instance reported an unusable ControlGroup {manager_cgroup:?}");
    }
    let r = relative.trim_start_matches('/');
    Ok(if r.is_empty() {
        m.to_string()
    } else {
        format!("{m}/{r}")
    })
}

/// The cgroup v2 controllers `res` needs (what the cgroupfs writes of `res` would touch);
/// device rules need none (they are a BPF program, tolerated as in every rootless mode).
pub fn required_controllers(res: &LinuxResources) -> BTreeSet<String> {
    let mut need = BTreeSet::new();
    let mut add = |c: &str| {
        need.insert(c.to_string());
    };
    if let Some(m) = res.memory() {
        let set = |v: Option<i64>| v.is_some_and(|v| v != 0);
        if set(m.limit()) || set(m.swap()) || set(m.reservation()) {
            add("memory");
        }
    }
    if let Some(c) = res.cpu() {
        let nz = |v: Option<u64>| v.is_some_and(|v| v != 0);
        if nz(c.shares()) || c.quota().is_some_and(|q| q != 0) || nz(c.period()) {
            add("cpu");
        }
        if c.idle().is_some_and(|i| i != 0) || nz(c.burst()) {
            add("cpu");
        }
        let list = |l: &Option<String>| l.as_deref().is_some_and(|s| !s.trim().is_empty());
        if list(c.cpus()) || list(c.mems()) {
            add("cpuset");
        }
    }
    if res.pids().is_some() {
        add("pids");
    }
    if let Some(b) = res.block_io() {
        let v = serde_json::to_value(b).unwrap_or_default();
        if v.as_object()
            .is_some_and(|o| o.values().any(|x| !x.is_null()))
        {
            add("io");
        }
    }
    if res
        .hugepage_limits()
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        add("hugetlb");
    }
    if res.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        add("rdma");
    }
    if let Some(u) = res.unified() {
        for k in u.keys() {
            match k.split_once('.') {
                Some(("cgroup", _)) | None => {}
                Some((c, _)) => add(c),
            }
        }
    }
    need
}

/// Checks that every controller `res` needs is delegated to the user manager, whose cgroup
/// directory is `manager_dir`, before anything is created.
pub fn check_delegated(manager_dir: &Path, res: &LinuxResources) -> Result<()> {
    let need = required_controllers(res);
    if need.is_empty() {
        return Ok(());
    }
    let file = manager_dir.join("cgroup.controllers");
    let have =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let have: BTreeSet<&str> = have.split_whitespace().collect();
    let missing: Vec<&str> = need
        .iter()
        .map(String::as_str)
        .filter(|c| !have.contains(c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    bail!(
        "cgroup controller(s) {} not delegated to the user's systemd instance ({} has: {}): \
         add them to Delegate= of user@.service or drop those limits",
        missing.join(", "),
        manager_dir.display(),
        if have.is_empty() {
            "none".to_string()
        } else {
            have.into_iter().collect::<Vec<_>>().join(" ")
        }
    )
}
