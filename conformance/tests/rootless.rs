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
/// every v1 hierarchy of the test process (whose cgroups the user's commands inherit); on a
/// pure v2 host `<parent of own>/<id>`, a sibling of the caller's cgroup (runc's fs2
/// defaultDirPath: the caller's cgroup holds processes, so it cannot have children with
/// controllers).
fn default_cgroup_dirs_of(id: &str) -> Vec<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let v2 = cgroup_kind() == CgroupKind::V2;
    own.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _n = f.next()?;
            let ctrl = f.next()?;
            let path = Path::new(f.next()?.trim_start_matches('/'));
            let (mount, dir) = match ctrl {
                "" if v2 => ("", path.parent().unwrap_or(Path::new(""))),
                "" => ("unified", path),
                c => (c.strip_prefix("name=").unwrap_or(c), path),
            };
            Some(Path::new("/sys/fs/cgroup").join(mount).join(dir).join(id))
        })
        .collect()
}

/// Delegates a cgroup with only the pids controller to the user and starts the user's
/// commands in it, as a login session in a delegated cgroup would be. Returns the directory
/// the user's containers without cgroupsPath get their cgroups in.
///
/// v1: `<name>` in the pids hierarchy, owned by the user; the user's commands start in it,
/// and containers go below it (`<own>/<id>`).
/// v2 (systemd's layout for a delegated unit): `<name>-deleg` (root's) has only pids in its
/// subtree_control; its child `<name>` is the user's (directory, cgroup.procs,
/// cgroup.subtree_control, cgroup.threads), and the user's commands start in the leaf
/// `<name>/session`: containers then go into `<name>/<id>`, siblings of the caller's cgroup.
fn delegate_pids_cgroup(u: &TestUser) -> PathBuf {
    let chown_cgroup = |dir: &Path, files: &[&str]| {
        for f in files {
            std::os::unix::fs::chown(dir.join(f), Some(u.uid), Some(u.gid)).unwrap();
        }
    };
    if cgroup_kind() != CgroupKind::V2 {
        let dir = Path::new("/sys/fs/cgroup/pids").join(&u.name);
        fs::create_dir(&dir).unwrap();
        u.add_cgroup(&dir);
        chown_cgroup(&dir, &["", "cgroup.procs", "tasks"]);
        u.start_in(&dir.join("cgroup.procs"));
        return dir;
    }
    let _ = fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+pids");
    let outer = Path::new("/sys/fs/cgroup").join(format!("{}-deleg", u.name));
    fs::create_dir(&outer).unwrap();
    u.add_cgroup(&outer);
    fs::write(outer.join("cgroup.subtree_control"), "+pids").unwrap();
    let dir = outer.join(&u.name);
    let session = dir.join("session");
    let files = [
        "",
        "cgroup.procs",
        "cgroup.subtree_control",
        "cgroup.threads",
    ];
    for d in [&dir, &session] {
        fs::create_dir(d).unwrap();
        chown_cgroup(d, &files);
    }
    u.start_in(&session.join("cgroup.procs"));
    dir
}
