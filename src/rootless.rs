//! Rootless mode, decided as runc decides it: `--rootless true|false|auto` (auto, the default:
//! rootless when the effective uid is not 0, or when running as root inside a user namespace),
//! and the default state root of an unprivileged user (`$XDG_RUNTIME_DIR/hull`).
//!
//! "Rootless" here means runc's *rootless cgroup manager*: cgroup permission errors are
//! tolerated when nothing needs the cgroup (see `cgroups::rootless`). Whether the id maps need
//! `newuidmap`/`newgidmap` depends only on the effective uid (see `process::idmap`).

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// The state root when `--root` is not given and XDG_RUNTIME_DIR is not honoured.
pub const SYSTEM_ROOT: &str = "/run/hull";

/// `--rootless`: Some(true/false) when forced, None for auto. Accepts what runc accepts
/// (Go's strconv.ParseBool spellings, "auto" in any case, or empty for auto).
pub fn parse_flag(v: Option<&str>) -> Result<Option<bool>> {
    let Some(v) = v else { return Ok(None) };
    match v {
        "" => Ok(None),
        _ if v.eq_ignore_ascii_case("auto") => Ok(None),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Some(true)),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Some(false)),
        _ => bail!("invalid --rootless value {v:?}: use true, false or auto"),
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether this process runs inside a (non-initial) user namespace: the initial one maps the
/// whole id range onto itself ("0 0 4294967295"). Without /proc/self/uid_map the kernel has no
/// user namespaces at all. Read once per process: the CLI asks first (auto mode as root), and
/// the container init, a clone of it, inherits the answer instead of reading again.
pub fn running_in_user_ns() -> bool {
    static IN_USER_NS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN_USER_NS.get_or_init(|| {
        if in_initial_user_ns() {
            return false;
        }
        match std::fs::read_to_string("/proc/self/uid_map") {
            Ok(s) => !is_initial_uid_map(&s),
            Err(_) => false,
        }
    })
}

/// The initial user namespace has a fixed inode (PROC_USER_INIT_INO): one stat answers the
/// common case, where the uid_map read takes six syscalls. Any other namespace, even one
/// that maps every id onto itself, is left to the uid_map test, as runc decides it.
fn in_initial_user_ns() -> bool {
    use std::os::unix::fs::MetadataExt;
    const PROC_USER_INIT_INO: u64 = 0xEFFF_FFFD;
    std::fs::metadata("/proc/self/ns/user").is_ok_and(|m| m.ino() == PROC_USER_INIT_INO)
}

fn is_initial_uid_map(text: &str) -> bool {
    let first: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    first == ["0", "0", "4294967295"]
}

/// Whether cgroups are handled the rootless way (runc's shouldUseRootlessCgroupManager).
pub fn use_rootless_cgroups(flag: Option<&str>, systemd_cgroup: bool) -> Result<bool> {
    if let Some(forced) = parse_flag(flag)? {
        return Ok(forced);
    }
    if euid() != 0 {
        return Ok(true);
    }
    if !running_in_user_ns() {
        return Ok(false);
    }
    // Root inside a user namespace. With the systemd driver, a systemd that runs as root
    // (in the namespace) manages cgroups for us; runc asks the bus for its owner uid and
    // assumes root when it cannot tell.
    if systemd_cgroup {
        return Ok(systemd_owner_uid().unwrap_or(0) != 0);
    }
    // cgroupfs: we cannot know whether the cgroup tree is ours, so tolerate errors.
    Ok(true)
}

/// The OwnerUID of the user's systemd bus, as `busctl --user status` reports it. Only asked
/// inside a user namespace with --systemd-cgroup (the uid the bus knows us by).
pub(crate) fn systemd_owner_uid() -> Option<u32> {
    let out = std::process::Command::new("busctl")
        .args(["--user", "--no-pager", "status"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("OwnerUID="))
        .and_then(|v| v.trim().parse().ok())
}

/// runc's shouldHonorXDGRuntimeDir: an unprivileged user's state lives in its runtime dir;
/// root in the initial user namespace keeps /run/hull even when XDG_RUNTIME_DIR is set (for
/// /run/user/0, backward compatibility); root in a user namespace uses it unless USER=root.
fn honor_xdg_runtime_dir(xdg: &str) -> bool {
    if xdg.is_empty() {
        return false;
    }
    if euid() != 0 {
        return true;
    }
    if !running_in_user_ns() {
        return false;
    }
    std::env::var("USER").map_or(true, |u| u != "root")
}

/// The state root to use without `--root`, and whether it is the XDG one (which must then be
/// created private and sticky, as the XDG base directory spec asks for files there).
pub fn default_state_root() -> (PathBuf, bool) {
    match std::env::var("XDG_RUNTIME_DIR") {
        Ok(x) if honor_xdg_runtime_dir(&x) => (PathBuf::from(x).join("hull"), true),
        _ => (PathBuf::from(SYSTEM_ROOT), false),
    }
}

/// Creates the XDG state root 0700 and sets the sticky bit, so the runtime dir's cleaner
/// (systemd-logind's periodic sweep) leaves it alone, as runc does.
pub fn prepare_xdg_root(root: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .with_context(|| format!("creating state root {}", root.display()))?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1700))
        .with_context(|| format!("making state root {} sticky", root.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_spellings() {
        assert_eq!(parse_flag(None).unwrap(), None);
        assert_eq!(parse_flag(Some("")).unwrap(), None);
        assert_eq!(parse_flag(Some("AUTO")).unwrap(), None);
        assert_eq!(parse_flag(Some("true")).unwrap(), Some(true));
        assert_eq!(parse_flag(Some("1")).unwrap(), Some(true));
        assert_eq!(parse_flag(Some("F")).unwrap(), Some(false));
        assert!(parse_flag(Some("yes")).is_err());
    }

    #[test]
    fn initial_namespace_map() {
        assert!(is_initial_uid_map("         0          0 4294967295\n"));
        assert!(!is_initial_uid_map("         0       1000          1\n"));
        assert!(!is_initial_uid_map(""));
    }
}
