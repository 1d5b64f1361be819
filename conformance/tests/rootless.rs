//! Rootless mode (runc's): an unprivileged user — created by each test and removed by its
//! Drop guard — runs `spec --rootless` and the container lifecycle with state under
//! `$XDG_RUNTIME_DIR/<runtime>`, its own uid/gid mapped to root without helpers, wider
//! mappings through newuidmap/newgidmap from its subordinate ids, cgroups skipped when not
//! writable and used when delegated, and nothing left behind when it kills the runtime in
//! the middle of create.
//!
//! Checked against runc 1.1.5 (/usr/sbin/runc) and runc 1.3.6 (sid root); differences are
//! noted at the tests (mostly: runc's error words; hull names the bad mapping up front).

#[path = "rootless/cgroups.rs"]
mod cgroups;
#[path = "rootless/id_mappings.rs"]
mod id_mappings;
#[path = "rootless/killed.rs"]
mod killed;
#[path = "rootless/podman.rs"]
mod podman;
#[path = "rootless/state_root.rs"]
mod state_root;
#[path = "rootless/user.rs"]
mod user;

use hull_conformance::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use user::{is_runc, runtime_name, TestUser, UserBundle};

fn t(secs: u64) -> Duration {
    budget(Duration::from_secs(secs))
}

/// `field` of `state <id>` run by the user.
fn state_field(u: &TestUser, id: &str, field: &str) -> serde_json::Value {
    let o = u.run(&["state", id]);
    assert_ok(&o, "state");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("state JSON");
    v[field].clone()
}

fn create(u: &TestUser, b: &UserBundle, id: &str) -> Output {
    u.run(&["create", "--bundle", b.dir_str(), id])
}

/// stderr as one trimmed string.
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[track_caller]
fn assert_one_clear_error(o: &Output, what: &str) {
    assert_fail1(o, what);
    let e = err(o);
    assert!(!e.contains("panicked"), "{what}: panic: {e}");
    assert_eq!(e.lines().count(), 1, "{what}: expected one error line: {e}");
}

/// Nothing of container `id` is left in the user's default state root.
#[track_caller]
fn assert_no_state(u: &TestUser, id: &str) {
    let dir = u.default_root().join(id);
    assert!(!dir.exists(), "state dir {} left behind", dir.display());
    let o = u.run(&["state", id]);
    assert_fail1(&o, "state of a container that must not exist");
}

/// The cgroup directories a container `id` without cgroupsPath would get: `<own>/<id>` in
/// every hierarchy of the test process (whose cgroups the user's commands inherit).
fn default_cgroup_dirs_of(id: &str) -> Vec<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let unified = match cgroup_kind() {
        CgroupKind::V2 => "",
        _ => "unified",
    };
    own.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _n = f.next()?;
            let ctrl = f.next()?;
            let path = f.next()?.trim_start_matches('/');
            let mount = match ctrl {
                "" => unified.to_string(),
                c => c.strip_prefix("name=").unwrap_or(c).to_string(),
            };
            Some(Path::new("/sys/fs/cgroup").join(mount).join(path).join(id))
        })
        .collect()
}

/// Delegates the pids cgroup `name` to the user (v1: in the pids hierarchy; v2: a cgroup
/// with the pids controller available) and starts the user's commands in it. Returns the
/// delegated directory.
fn delegate_pids_cgroup(u: &TestUser) -> PathBuf {
    let base = match cgroup_kind() {
        CgroupKind::V2 => {
            let _ = fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+pids");
            PathBuf::from("/sys/fs/cgroup")
        }
        _ => PathBuf::from("/sys/fs/cgroup/pids"),
    };
    let dir = base.join(&u.name);
    fs::create_dir(&dir).unwrap();
    u.add_cgroup(&dir);
    let files: &[&str] = match cgroup_kind() {
        CgroupKind::V2 => &[
            "",
            "cgroup.procs",
            "cgroup.subtree_control",
            "cgroup.threads",
        ],
        _ => &["", "cgroup.procs", "tasks"],
    };
    for f in files {
        std::os::unix::fs::chown(dir.join(f), Some(u.uid), Some(u.gid)).unwrap();
    }
    u.start_in(&dir.join("cgroup.procs"));
    dir
}
