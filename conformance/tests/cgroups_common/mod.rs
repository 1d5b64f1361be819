//! Helpers shared by the cgroup conformance tests (`cgroups_*.rs`): every `linux.resources`
//! entry of the runtime spec is read back
//!   (a) on the host, in the files of the container's cgroup, and
//!   (b) from inside the container (`exec cat /sys/fs/cgroup/...`; with a cgroup namespace the
//!       container sees its own cgroup at /sys/fs/cgroup[/<hierarchy>]),
//! with runc's conversions on cgroup v2.
//!
//! The same tests run on a hybrid host (v1 controllers + /sys/fs/cgroup/unified) and on a pure
//! cgroup v2 host: small per-kind helpers pick the files. A resource without a file on the host
//! kind or kernel is skipped with a printed reason, never passed silently.
//! Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use hull_conformance::*;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const T: Duration = Duration::from_secs(10);

pub const MIB: i64 = 1024 * 1024;

pub fn kind() -> CgroupKind {
    cgroup_kind()
}

pub fn is_v2() -> bool {
    kind() == CgroupKind::V2
}

/// Print why a check is skipped (visible with `--nocapture` and in failing tests' output).
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIP {test}: {why} (host cgroup kind {:?})", kind());
}

/// True when the host has every controller of `ctrls`; else prints why `test` is skipped.
pub fn require(test: &str, ctrls: &[&str]) -> bool {
    let missing: Vec<&str> = ctrls
        .iter()
        .copied()
        .filter(|c| ctrl_mount(c).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    skip(
        test,
        &format!("no {missing:?} cgroup controller on this host"),
    );
    false
}

/// The io controller's name on this host kind ("io" on v2, "blkio" on v1).
pub fn io_ctrl() -> &'static str {
    if is_v2() {
        "io"
    } else {
        "blkio"
    }
}

// ---------------------------------------------------------------------------
// Where the files are
// ---------------------------------------------------------------------------

/// v1 hierarchies mounted under /sys/fs/cgroup: (directory name, super options).
pub fn v1_hierarchies() -> Vec<(String, Vec<String>)> {
    let s = own_mountinfo();
    let mut v: Vec<(String, Vec<String>)> = Vec::new();
    for m in s.lines().filter_map(parse_mountinfo_line) {
        if m.fstype != "cgroup" {
            continue;
        }
        let opts = m.super_options.split(',').map(String::from).collect();
        if let Some(name) = m.mount_point.strip_prefix("/sys/fs/cgroup/") {
            if !v.iter().any(|(n, _)| n == name) {
                v.push((name.to_string(), opts));
            }
        }
    }
    v
}

pub fn unified_controllers(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// The directory below /sys/fs/cgroup that holds controller `ctrl` ("cgroup" = the cgroup2
/// core files): on v2 "" (the single mount); on v1/hybrid the v1 hierarchy that has it
/// (e.g. "memory" or "cpu,cpuacct"), else on hybrid "unified" when the cgroup2 mount has it.
/// The same name is the controller's directory inside a container with a cgroup namespace.
/// None when the host has no such controller.
pub fn ctrl_mount(ctrl: &str) -> Option<String> {
    let root = Path::new("/sys/fs/cgroup");
    match kind() {
        CgroupKind::V2 => (ctrl == "cgroup" || unified_controllers(root).iter().any(|c| c == ctrl))
            .then(String::new),
        k => {
            if ctrl != "cgroup" {
                if let Some((name, _)) = v1_hierarchies()
                    .into_iter()
                    .find(|(_, o)| o.iter().any(|x| x == ctrl))
                {
                    return Some(name);
                }
            }
            let u = root.join("unified");
            (k == CgroupKind::Hybrid
                && (ctrl == "cgroup" || unified_controllers(&u).iter().any(|c| c == ctrl)))
            .then(|| "unified".to_string())
        }
    }
}

/// `/sys/fs/cgroup/<mount>/<rel>`
pub fn host_dir(mount: &str, cg: &str) -> PathBuf {
    let mut p = PathBuf::from("/sys/fs/cgroup");
    if !mount.is_empty() {
        p.push(mount);
    }
    p.join(cg.trim_start_matches('/'))
}

/// `/sys/fs/cgroup[/<mount>]/<file>`: the file as seen inside a container with a cgroup ns.
pub fn inside_path(mount: &str, file: &str) -> String {
    if mount.is_empty() {
        format!("/sys/fs/cgroup/{file}")
    } else {
        format!("/sys/fs/cgroup/{mount}/{file}")
    }
}

// ---------------------------------------------------------------------------
// Bundles and containers
// ---------------------------------------------------------------------------

/// Merge `resources` into linux.resources (keeping the default device rules).
pub fn set_resources(b: &mut Bundle, resources: &Value) {
    if let Some(m) = resources.as_object() {
        for (k, v) in m {
            b.config["linux"]["resources"][k] = v.clone();
        }
    }
}

pub fn add_namespace(b: &mut Bundle, ns: &str) {
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": ns }));
}

/// A busybox bundle for `id` with the test cgroups path, `resources` merged in, a cgroup
/// namespace and `sleep 1000` as init.
pub fn cg_bundle(id: &str, resources: Value) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(id));
    b.set_args(&["sleep", "1000"]);
    set_resources(&mut b, &resources);
    add_namespace(&mut b, "cgroup");
    b.save();
    b
}

/// Reads the container's cgroup file on the host and from inside.
pub struct View<'a> {
    pub c: &'a Container<'a>,
    /// The cgroup path below every hierarchy (e.g. "/hull-conf/<id>").
    pub cg: String,
}

impl<'a> View<'a> {
    pub fn new(c: &'a Container<'a>, cg: &str) -> View<'a> {
        View {
            c,
            cg: cg.to_string(),
        }
    }

    /// Host-side path of `file` of controller `ctrl`, or None when the host has no such
    /// controller or file.
    pub fn host_file(&self, ctrl: &str, file: &str) -> Option<(String, PathBuf)> {
        let m = ctrl_mount(ctrl)?;
        let p = host_dir(&m, &self.cg).join(file);
        p.exists().then_some((m, p))
    }

    pub fn has(&self, ctrl: &str, file: &str) -> bool {
        self.host_file(ctrl, file).is_some()
    }

    /// (host content, inside content), or None (with a printed reason) when the host has no
    /// such file.
    #[track_caller]
    pub fn read_both(&self, ctrl: &str, file: &str) -> Option<(String, String)> {
        let Some((m, p)) = self.host_file(ctrl, file) else {
            skip(
                file,
                &format!("no {file} for controller {ctrl} on this host/kernel"),
            );
            return None;
        };
        let host = fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        let o = self.c.exec(&["cat", &inside_path(&m, file)]);
        assert_ok(
            &o,
            &format!("exec cat {} in {}", inside_path(&m, file), self.c.id),
        );
        Some((host, stdout_str(&o)))
    }

    /// Both views of `file` equal `want` (trimmed). False when skipped.
    #[track_caller]
    pub fn expect(&self, ctrl: &str, file: &str, want: &str) -> bool {
        let Some((host, inside)) = self.read_both(ctrl, file) else {
            return false;
        };
        assert_eq!(host.trim(), want, "host {ctrl} {file} of {}", self.cg);
        assert_eq!(inside.trim(), want, "{file} seen inside {}", self.c.id);
        true
    }

    /// Both views of `file` have a line equal to `line`. False when skipped.
    #[track_caller]
    pub fn expect_line(&self, ctrl: &str, file: &str, line: &str) -> bool {
        let Some((host, inside)) = self.read_both(ctrl, file) else {
            return false;
        };
        let has = |s: &str| s.lines().any(|l| l.trim() == line);
        assert!(
            has(&host),
            "host {ctrl} {file}: no line {line:?} in {host:?}"
        );
        assert!(
            has(&inside),
            "{file} inside {}: no line {line:?} in {inside:?}",
            self.c.id
        );
        true
    }

    /// `sh -c script` inside the container: (exit code, stdout+stderr), without the runtime's
    /// own warning lines (runc 1.3 warns on every exec of the harness bundle that its ambient
    /// capabilities cannot be raised: they are not inheritable).
    pub fn sh(&self, script: &str) -> (i32, String) {
        let o = self.c.exec(&["sh", "-c", script]);
        let err: String = stderr_str(&o)
            .lines()
            .filter(|l| !l.contains("level=warning"))
            .map(|l| format!("{l}\n"))
            .collect();
        (exit_code(&o.status), format!("{}{err}", stdout_str(&o)))
    }
}

/// `create` must fail with exit 1, an error that names every word of `words`, and leave no
/// state and no cgroup (at the test path and at the default path).
#[track_caller]
pub fn assert_create_refused(rt: &Runtime, b: &Bundle, id: &str, words: &[&str]) -> String {
    let c = Container::with_id(rt, b, id);
    let o = c.try_create();
    assert_fail1(&o, &format!("create {id} with {words:?}"));
    let err = stderr_str(&o);
    for w in words {
        assert!(
            err.contains(w),
            "error of create {id} does not name {w:?}: {err:?}"
        );
    }
    assert!(!err.contains("panicked"), "runtime panicked: {err}");
    assert_no_state(rt, id);
    let cg = test_cgroups_path(id);
    assert_cgroup_gone(&cg, "cgroup left behind");
    assert!(
        default_cgroup_leftovers(id).is_empty(),
        "default cgroup left behind: {:?}",
        default_cgroup_leftovers(id)
    );
    err
}

/// Every cgroup hierarchy (mount point) the runtime is expected to create the container's
/// directory in: all v1 hierarchies (+ the hybrid unified mount), or the v2 mount.
pub fn all_hierarchies() -> Vec<PathBuf> {
    cgroup_mounts()
}

/// Waits until no directory of cgroup `cg` is left in any hierarchy.
#[track_caller]
pub fn assert_cgroup_gone(cg: &str, what: &str) {
    assert!(
        poll_until(T, || cgroup_leftovers(cg).is_empty()),
        "{what}: {:?}",
        cgroup_leftovers(cg)
    );
}

/// Huge page sizes of the kernel in the cgroup file notation ("2MB", "1GB"), with bytes.
pub fn hugepage_sizes() -> Vec<(String, u64)> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir("/sys/kernel/mm/hugepages") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let Some(kb) = n
                .strip_prefix("hugepages-")
                .and_then(|s| s.strip_suffix("kB"))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let name = if kb >= 1 << 20 {
                format!("{}GB", kb >> 20)
            } else if kb >= 1 << 10 {
                format!("{}MB", kb >> 10)
            } else {
                format!("{kb}KB")
            };
            v.push((name, kb * 1024));
        }
    }
    v.sort_by_key(|(_, b)| *b);
    v
}

/// Makes the container's /sys/fs/cgroup mount writable (with a cgroup namespace the container
/// only sees its own cgroup there), so that it can make sub-cgroups.
pub fn writable_cgroupfs(b: &mut Bundle) {
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys/fs/cgroup" {
            m["options"] = json!(["nosuid", "noexec", "nodev", "relatime"]);
        }
    }
    b.save();
}

/// Runs `sleep 1000` with `exec -d` in the sub-cgroup `rel` of hierarchy `mount` inside the
/// container (made if missing); returns the sub-cgroup's host directory once the process is
/// in it.
pub fn sleep_in_sub_cgroup(rt: &Runtime, id: &str, mount: &str, rel: &str) -> PathBuf {
    let dir = inside_path(mount, rel);
    let o = rt.run(&[
        "exec",
        "-d",
        id,
        "sh",
        "-c",
        &format!("mkdir -p {dir} && echo $$ > {dir}/cgroup.procs && exec sleep 1000"),
    ]);
    assert_ok(&o, "exec -d into a sub-cgroup");
    let sub = host_dir(mount, &format!("{}/{rel}", test_cgroups_path(id)));
    assert!(
        poll_until(T, || fs::read_to_string(sub.join("cgroup.procs"))
            .is_ok_and(|s| !s.trim().is_empty())),
        "no process in {}",
        sub.display()
    );
    sub
}

/// Pids in the container's cgroup (and below), read on the host from the hierarchy that
/// every container process joins (pids/freezer/memory on v1, the v2 dir on v2).
pub fn cgroup_procs(cg: &str) -> Vec<i32> {
    let mount = ["pids", "freezer", "memory", "cgroup"]
        .iter()
        .find_map(|c| ctrl_mount(c))
        .expect("a cgroup hierarchy with processes");
    let mut out = Vec::new();
    let mut stack = vec![host_dir(&mount, cg)];
    while let Some(d) = stack.pop() {
        if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if let Ok(rd) = fs::read_dir(&d) {
            stack.extend(
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    out.sort_unstable();
    out
}

/// Waits until every process of `pids` is gone.
#[track_caller]
pub fn assert_all_dead(pids: &[i32], what: &str) {
    assert!(
        poll_until(T, || pids.iter().all(|p| !pid_alive(*p))),
        "{what}: {:?}",
        pids.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()
    );
}
