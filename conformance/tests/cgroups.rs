//! cgroup conformance: every `linux.resources` entry of the runtime spec lands in the
//! container's cgroup, read back
//!   (a) on the host, in the files of the container's cgroup, and
//!   (b) from inside the container (`exec cat /sys/fs/cgroup/...`; with a cgroup namespace the
//!       container sees its own cgroup at /sys/fs/cgroup[/<hierarchy>]),
//! with runc's conversions on cgroup v2. Plus the cgroup side of the lifecycle: `kill --all`,
//! `delete` (every hierarchy, processes left behind), pause/resume, `ps`, and where the cgroup
//! goes for absolute, relative and missing `linux.cgroupsPath`.
//!
//! The same tests run on a hybrid host (v1 controllers + /sys/fs/cgroup/unified) and on a pure
//! cgroup v2 host: small per-kind helpers pick the files. A resource without a file on the host
//! kind or kernel is skipped with a printed reason, never passed silently.

use hull_conformance::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// What cgroup v1 shows for "no limit" in the *_in_bytes files (LONG_MAX rounded to pages).
const V1_UNLIMITED: &str = "9223372036854771712";

const MIB: i64 = 1024 * 1024;

fn kind() -> CgroupKind {
    cgroup_kind()
}

fn is_v2() -> bool {
    kind() == CgroupKind::V2
}

/// Print why a check is skipped (visible with `--nocapture` and in failing tests' output).
fn skip(test: &str, why: &str) {
    eprintln!("SKIP {test}: {why} (host cgroup kind {:?})", kind());
}

/// True when the host has every controller of `ctrls`; else prints why `test` is skipped.
fn require(test: &str, ctrls: &[&str]) -> bool {
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
fn io_ctrl() -> &'static str {
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
fn v1_hierarchies() -> Vec<(String, Vec<String>)> {
    let s = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v = Vec::new();
    for line in s.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let opts: Vec<String> = r
            .nth(1)
            .unwrap_or("")
            .split(',')
            .map(String::from)
            .collect();
        let Some(mp) = left.split(' ').nth(4) else {
            continue;
        };
        if let Some(name) = mp.strip_prefix("/sys/fs/cgroup/") {
            if !v.iter().any(|(n, _)| n == name) {
                v.push((name.to_string(), opts));
            }
        }
    }
    v
}

fn unified_controllers(dir: &Path) -> Vec<String> {
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
fn ctrl_mount(ctrl: &str) -> Option<String> {
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
fn host_dir(mount: &str, cg: &str) -> PathBuf {
    let mut p = PathBuf::from("/sys/fs/cgroup");
    if !mount.is_empty() {
        p.push(mount);
    }
    p.join(cg.trim_start_matches('/'))
}

/// `/sys/fs/cgroup[/<mount>]/<file>`: the file as seen inside a container with a cgroup ns.
fn inside_path(mount: &str, file: &str) -> String {
    if mount.is_empty() {
        format!("/sys/fs/cgroup/{file}")
    } else {
        format!("/sys/fs/cgroup/{mount}/{file}")
    }
}

/// Major:minor of the whole disk behind `/` (block throttling works on disks, not
/// partitions), or None when / is not on a block device.
fn root_disk() -> Option<(u64, u64)> {
    let dev = fs::metadata("/").ok()?.dev();
    let (ma, mi) = (libc::major(dev) as u64, libc::minor(dev) as u64);
    let sys = PathBuf::from(format!("/sys/dev/block/{ma}:{mi}"));
    if !sys.exists() {
        return None;
    }
    if sys.join("partition").exists() {
        let parent = fs::canonicalize(&sys).ok()?.parent()?.join("dev");
        let s = fs::read_to_string(parent).ok()?;
        let (a, b) = s.trim().split_once(':')?;
        return Some((a.parse().ok()?, b.parse().ok()?));
    }
    Some((ma, mi))
}

/// The active I/O scheduler of block device `maj:min` ("none", "bfq", ...).
fn scheduler(ma: u64, mi: u64) -> String {
    let s =
        fs::read_to_string(format!("/sys/dev/block/{ma}:{mi}/queue/scheduler")).unwrap_or_default();
    s.split_whitespace()
        .find(|w| w.starts_with('['))
        .map(|w| w.trim_matches(|c| c == '[' || c == ']').to_string())
        .unwrap_or_default()
}

/// runc's cpu.shares → cpu.weight conversion.
fn shares_to_weight(s: u64) -> u64 {
    1 + ((s - 2) * 9999) / 262_142
}

/// runc's blkio weight → io.weight conversion.
fn blkio_to_io_weight(w: u64) -> u64 {
    1 + ((w - 10) * 9999) / 990
}

// ---------------------------------------------------------------------------
// Bundles and containers
// ---------------------------------------------------------------------------

/// Merge `resources` into linux.resources (keeping the default device rules).
fn set_resources(b: &mut Bundle, resources: &Value) {
    if let Some(m) = resources.as_object() {
        for (k, v) in m {
            b.config["linux"]["resources"][k] = v.clone();
        }
    }
}

fn add_namespace(b: &mut Bundle, ns: &str) {
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": ns }));
}

fn remove_namespace(b: &mut Bundle, ns: &str) {
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != ns);
}

/// A busybox bundle for `id` with the test cgroups path, `resources` merged in, a cgroup
/// namespace and `sleep 1000` as init.
fn cg_bundle(id: &str, resources: Value) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(id));
    b.set_args(&["sleep", "1000"]);
    set_resources(&mut b, &resources);
    add_namespace(&mut b, "cgroup");
    b.save();
    b
}

/// Reads the container's cgroup file on the host and from inside.
struct View<'a> {
    c: &'a Container<'a>,
    /// The cgroup path below every hierarchy (e.g. "/hull-conf/<id>").
    cg: String,
}

impl<'a> View<'a> {
    fn new(c: &'a Container<'a>, cg: &str) -> View<'a> {
        View {
            c,
            cg: cg.to_string(),
        }
    }

    /// Host-side path of `file` of controller `ctrl`, or None when the host has no such
    /// controller or file.
    fn host_file(&self, ctrl: &str, file: &str) -> Option<(String, PathBuf)> {
        let m = ctrl_mount(ctrl)?;
        let p = host_dir(&m, &self.cg).join(file);
        p.exists().then_some((m, p))
    }

    fn has(&self, ctrl: &str, file: &str) -> bool {
        self.host_file(ctrl, file).is_some()
    }

    /// (host content, inside content), or None (with a printed reason) when the host has no
    /// such file.
    #[track_caller]
    fn read_both(&self, ctrl: &str, file: &str) -> Option<(String, String)> {
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
    fn expect(&self, ctrl: &str, file: &str, want: &str) -> bool {
        let Some((host, inside)) = self.read_both(ctrl, file) else {
            return false;
        };
        assert_eq!(host.trim(), want, "host {ctrl} {file} of {}", self.cg);
        assert_eq!(inside.trim(), want, "{file} seen inside {}", self.c.id);
        true
    }

    /// Both views of `file` have a line equal to `line`. False when skipped.
    #[track_caller]
    fn expect_line(&self, ctrl: &str, file: &str, line: &str) -> bool {
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

    /// `sh -c script` inside the container: (exit code, stdout+stderr).
    fn sh(&self, script: &str) -> (i32, String) {
        let o = self.c.exec(&["sh", "-c", script]);
        (
            exit_code(&o.status),
            format!("{}{}", stdout_str(&o), stderr_str(&o)),
        )
    }
}

/// Create and start the container of bundle `b`.
#[track_caller]
fn start<'a>(rt: &'a Runtime, b: &'a Bundle, id: &str) -> Container<'a> {
    let c = Container::with_id(rt, b, id);
    c.create();
    c.start();
    c
}

/// `create` must fail with exit 1, an error that names every word of `words`, and leave no
/// state and no cgroup (at the test path and at the default path).
#[track_caller]
fn assert_create_refused(rt: &Runtime, b: &Bundle, id: &str, words: &[&str]) -> String {
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

/// Pids in the container's cgroup (and below), read on the host from the hierarchy that
/// every container process joins (pids/freezer/memory on v1, the v2 dir on v2).
fn cgroup_procs(cg: &str) -> Vec<i32> {
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

/// Every cgroup hierarchy (mount point) the runtime is expected to create the container's
/// directory in: all v1 hierarchies (+ the hybrid unified mount), or the v2 mount.
fn all_hierarchies() -> Vec<PathBuf> {
    cgroup_mounts()
}

// ---------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------

/// Waits until no directory of cgroup `cg` is left in any hierarchy.
#[track_caller]
fn assert_cgroup_gone(cg: &str, what: &str) {
    assert!(
        poll_until(T, || cgroup_leftovers(cg).is_empty()),
        "{what}: {:?}",
        cgroup_leftovers(cg)
    );
}

/// Waits until every process of `pids` is gone.
#[track_caller]
fn assert_all_dead(pids: &[i32], what: &str) {
    assert!(
        poll_until(T, || pids.iter().all(|p| !pid_alive(*p))),
        "{what}: {:?}",
        pids.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()
    );
}

#[test]
fn memory_limit_reservation_swap() {
    if !require("memory", &["memory"]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgmem");
    let (limit, resv) = (64 * MIB, 32 * MIB);
    let b = cg_bundle(
        &id,
        json!({ "memory": { "limit": limit, "reservation": resv } }),
    );
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    let (max, low, swapf) = if is_v2() {
        ("memory.max", "memory.low", "memory.swap.max")
    } else {
        (
            "memory.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.memsw.limit_in_bytes",
        )
    };
    v.expect("memory", max, &limit.to_string());
    v.expect("memory", low, &resv.to_string());
    if !v.has("memory", swapf) {
        skip("memory swap", &format!("no {swapf}: no swap accounting"));
        return;
    }
    let swap = 96 * MIB;
    let id2 = unique_id("cgmemsw");
    let b2 = cg_bundle(&id2, json!({ "memory": { "limit": limit, "swap": swap } }));
    let c2 = start(&rt, &b2, &id2);
    let v2 = View::new(&c2, &test_cgroups_path(&id2));
    v2.expect("memory", max, &limit.to_string());
    // v1 memsw is memory+swap; v2 memory.swap.max is swap only: swap minus limit
    let want = if is_v2() { swap - limit } else { swap };
    v2.expect("memory", swapf, &want.to_string());
}

#[test]
fn memory_unlimited_and_swap_equal_to_limit() {
    if !require("memory", &["memory"]) {
        return;
    }
    let rt = Runtime::new();
    // -1 = no limit ("max" on v2)
    let id = unique_id("cgmemmax");
    let b = cg_bundle(&id, json!({ "memory": { "limit": -1, "swap": -1 } }));
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    let (max, swapf, unlimited) = if is_v2() {
        ("memory.max", "memory.swap.max", "max")
    } else {
        (
            "memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            V1_UNLIMITED,
        )
    };
    v.expect("memory", max, unlimited);
    if !v.has("memory", swapf) {
        skip("memory swap", &format!("no {swapf}: no swap accounting"));
        return;
    }
    v.expect("memory", swapf, unlimited);
    // swap == limit: no swap at all (v2 memory.swap.max 0)
    let id2 = unique_id("cgmemsw");
    let b2 = cg_bundle(
        &id2,
        json!({ "memory": { "limit": 48 * MIB, "swap": 48 * MIB } }),
    );
    let c2 = start(&rt, &b2, &id2);
    let v2 = View::new(&c2, &test_cgroups_path(&id2));
    v2.expect("memory", max, &(48 * MIB).to_string());
    let want = if is_v2() { 0 } else { 48 * MIB };
    v2.expect("memory", swapf, &want.to_string());
}

#[test]
fn memory_swap_below_limit_is_refused() {
    if !require("memory", &["memory"]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgmemlow");
    let b = cg_bundle(
        &id,
        json!({ "memory": { "limit": 64 * MIB, "swap": 32 * MIB } }),
    );
    if is_v2() {
        // runc's validator: "memory+swap limit should be >= memory limit"
        assert_create_refused(&rt, &b, &id, &["swap"]);
    } else {
        // v1: the kernel refuses memsw < memory (EINVAL on memory.memsw.limit_in_bytes)
        let m = ctrl_mount("memory").unwrap();
        if !host_dir(&m, "/")
            .join("memory.memsw.limit_in_bytes")
            .exists()
        {
            skip("memory_swap_below_limit_is_refused", "no swap accounting");
            return;
        }
        assert_create_refused(
            &rt,
            &b,
            &id,
            &["memory.memsw.limit_in_bytes", &(32 * MIB).to_string()],
        );
    }
}

#[test]
fn memory_swappiness_and_oom_killer_v1() {
    if !require("memory_swappiness_and_oom_killer_v1", &["memory"]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgswp");
    let b = cg_bundle(
        &id,
        json!({ "memory": { "limit": 64 * MIB, "swappiness": 10, "disableOOMKiller": true } }),
    );
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    if is_v2() {
        // runc's fs2 driver ignores swappiness and disableOOMKiller (no v2 files).
        skip(
            "memory swappiness/disableOOMKiller",
            "cgroup v2 has no such files; ignored like runc (create succeeded)",
        );
        v.expect("memory", "memory.max", &(64 * MIB).to_string());
        return;
    }
    v.expect("memory", "memory.swappiness", "10");
    v.expect_line("memory", "memory.oom_control", "oom_kill_disable 1");
}

#[test]
fn memory_kernel_and_kernel_tcp() {
    if !require("memory_kernel_and_kernel_tcp", &["memory"]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgkmem");
    let b = cg_bundle(
        &id,
        json!({ "memory": { "limit": 64 * MIB, "kernel": 32 * MIB, "kernelTCP": 16 * MIB } }),
    );
    // Kernel memory limits are deprecated: the kernel keeps memory.kmem.limit_in_bytes but
    // ignores writes (5.16+) and cgroup v2 has no kmem files; runc 1.1 ignores both fields.
    // hull ignores `kernel` where the kernel does and sets `kernelTCP` where the file exists.
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    if is_v2() {
        skip(
            "memory kernel/kernelTCP",
            "cgroup v2 has no kmem files; ignored like runc (create succeeded)",
        );
        v.expect("memory", "memory.max", &(64 * MIB).to_string());
        return;
    }
    v.expect("memory", "memory.limit_in_bytes", &(64 * MIB).to_string());
    if is_runc() {
        skip("memory kernelTCP", "runc 1.1 ignores kernelTCP");
    } else if v.has("memory", "memory.kmem.tcp.limit_in_bytes") {
        v.expect(
            "memory",
            "memory.kmem.tcp.limit_in_bytes",
            &(16 * MIB).to_string(),
        );
    } else {
        skip("memory kernelTCP", "no memory.kmem.tcp.limit_in_bytes");
    }
}

// ---------------------------------------------------------------------------
// cpu
// ---------------------------------------------------------------------------

#[test]
fn cpu_shares_quota_period_burst() {
    if !require("cpu_shares_quota_period_burst", &["cpu"]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgcpu");
    let b = cg_bundle(
        &id,
        json!({ "cpu": { "shares": 512, "quota": 50000, "period": 100000, "burst": 10000 } }),
    );
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    if is_v2() {
        v.expect("cpu", "cpu.weight", &shares_to_weight(512).to_string());
        v.expect("cpu", "cpu.max", "50000 100000");
        if is_runc() {
            skip("cpu burst", "runc 1.1 does not support cpu.burst");
        } else {
            v.expect("cpu", "cpu.max.burst", "10000");
        }
    } else {
        v.expect("cpu", "cpu.shares", "512");
        v.expect("cpu", "cpu.cfs_quota_us", "50000");
        v.expect("cpu", "cpu.cfs_period_us", "100000");
        if is_runc() {
            skip("cpu burst", "runc 1.1 does not support cpu.burst");
        } else {
            v.expect("cpu", "cpu.cfs_burst_us", "10000");
        }
    }
}

#[test]
fn cpu_unlimited_quota_and_idle() {
    if !require("cpu_unlimited_quota_and_idle", &["cpu"]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgcpumax");
    let b = cg_bundle(&id, json!({ "cpu": { "quota": -1, "period": 50000 } }));
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    if is_v2() {
        v.expect("cpu", "cpu.max", "max 50000");
    } else {
        v.expect("cpu", "cpu.cfs_quota_us", "-1");
        v.expect("cpu", "cpu.cfs_period_us", "50000");
    }
    // cpu.idle (kernel 5.15+): the first container's cgroup shows whether the kernel has it
    // (v2 has no cpu.* files in the root cgroup to look at)
    if !v.has("cpu", "cpu.idle") {
        skip("cpu idle", "the kernel has no cpu.idle");
        return;
    }
    let id2 = unique_id("cgidle");
    let b2 = cg_bundle(&id2, json!({ "cpu": { "idle": 1 } }));
    if is_runc() {
        skip("cpu idle", "runc 1.1 does not support cpu.idle");
        return;
    }
    let c2 = start(&rt, &b2, &id2);
    View::new(&c2, &test_cgroups_path(&id2)).expect("cpu", "cpu.idle", "1");
}

#[test]
fn cpu_realtime_v1() {
    let rt = Runtime::new();
    let id = unique_id("cgrt");
    if is_v2() {
        // No cpu.rt_* files on v2: hull refuses (naming the fields); runc 1.1 ignores them.
        let b = cg_bundle(&id, json!({ "cpu": { "realtimeRuntime": 10000 } }));
        if is_runc() {
            skip(
                "cpu realtime",
                "cgroup v2: runc 1.1 ignores realtime settings",
            );
            let _c = start(&rt, &b, &id);
        } else {
            skip(
                "cpu realtime",
                "cgroup v2 has no cpu.rt_* files; checking hull refuses it",
            );
            assert_create_refused(&rt, &b, &id, &["realtime"]);
        }
        return;
    }
    let probe = ctrl_mount("cpu").map(|m| host_dir(&m, "").join("cpu.rt_runtime_us"));
    if !probe.as_ref().is_some_and(|p| p.exists()) {
        skip(
            "cpu realtime",
            "the kernel has no cpu.rt_runtime_us (no RT group scheduling)",
        );
        return;
    }
    // A new cgroup can only get RT runtime its parent has: put it right below the root
    // (which has the whole budget) instead of below /hull-conf.
    let cg = format!("/hull-conf-rt-{id}");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&cg);
    b.set_args(&["sleep", "1000"]);
    set_resources(
        &mut b,
        &json!({ "cpu": { "realtimeRuntime": 10000, "realtimePeriod": 500000 } }),
    );
    add_namespace(&mut b, "cgroup");
    b.save();
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &cg);
    v.expect("cpu", "cpu.rt_runtime_us", "10000");
    v.expect("cpu", "cpu.rt_period_us", "500000");
}

#[test]
fn cpuset_cpus_and_mems() {
    let rt = Runtime::new();
    let id = unique_id("cgcpuset");
    let b = cg_bundle(&id, json!({ "cpu": { "cpus": "0", "mems": "0" } }));
    if ctrl_mount("cpuset").is_none() {
        skip("cpuset", "no cpuset controller");
        return;
    }
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    v.expect("cpuset", "cpuset.cpus", "0");
    v.expect("cpuset", "cpuset.mems", "0");
    // and the container really runs on cpu 0 only
    let (code, out) = v.sh("grep Cpus_allowed_list /proc/self/status");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.trim().ends_with("\t0") || out.trim().ends_with(" 0"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------
// pids
// ---------------------------------------------------------------------------

#[test]
fn pids_limit() {
    if !require("pids_limit", &["pids"]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgpids");
    let b = cg_bundle(&id, json!({ "pids": { "limit": 42 } }));
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    v.expect("pids", "pids.max", "42");

    let id2 = unique_id("cgpidsmax");
    let b2 = cg_bundle(&id2, json!({ "pids": { "limit": -1 } }));
    let c2 = start(&rt, &b2, &id2);
    View::new(&c2, &test_cgroups_path(&id2)).expect("pids", "pids.max", "max");

    // the limit is enforced: 3 processes max, a 4th fork fails
    let id3 = unique_id("cgpids3");
    let b3 = cg_bundle(&id3, json!({ "pids": { "limit": 3 } }));
    let c3 = start(&rt, &b3, &id3);
    let v3 = View::new(&c3, &test_cgroups_path(&id3));
    // init + exec'd sh + 4 sleeps > 3: some fork must fail
    let (_, out) = v3.sh("for i in 1 2 3 4; do sleep 2 & done; wait");
    assert!(
        out.contains("fork") || out.contains("Resource temporarily unavailable"),
        "6 processes were allowed with pids.max=3: {out:?}"
    );
}

// ---------------------------------------------------------------------------
// block IO
// ---------------------------------------------------------------------------

/// The blkio/io weight file of this host: (controller, file, value shown for `w`).
fn weight_file(v: &View, w: u64) -> Option<(&'static str, &'static str, String)> {
    if is_v2() {
        if v.has("io", "io.bfq.weight") {
            Some(("io", "io.bfq.weight", format!("default {w}")))
        } else if v.has("io", "io.weight") {
            Some((
                "io",
                "io.weight",
                format!("default {}", blkio_to_io_weight(w)),
            ))
        } else {
            None
        }
    } else if v.has("blkio", "blkio.weight") {
        Some(("blkio", "blkio.weight", w.to_string()))
    } else if v.has("blkio", "blkio.bfq.weight") {
        // v1 shows the bare number (v2 io.bfq.weight says "default N")
        Some(("blkio", "blkio.bfq.weight", w.to_string()))
    } else {
        None
    }
}

#[test]
fn blkio_weight() {
    if !require("blkio_weight", &[io_ctrl()]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgbw");
    let b = cg_bundle(&id, json!({ "blockIO": { "weight": 500 } }));
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    match weight_file(&v, 500) {
        Some((ctrl, file, want)) => {
            v.expect_line(ctrl, file, &want);
        }
        None => skip(
            "blkio weight",
            "no blkio/io weight file (no bfq, no iocost)",
        ),
    }
}

#[test]
fn blkio_leaf_weight() {
    if !require("blkio_leaf_weight", &[io_ctrl()]) {
        return;
    }
    // leafWeight only exists with the (removed) CFQ scheduler: runc writes
    // blkio.leaf_weight on v1 and fails when it is missing; v2 ignores it.
    let rt = Runtime::new();
    let id = unique_id("cgleaf");
    let b = cg_bundle(&id, json!({ "blockIO": { "leafWeight": 300 } }));
    let probe = ctrl_mount("blkio").map(|m| host_dir(&m, "").join("blkio.leaf_weight"));
    if is_v2() {
        skip(
            "blkio leafWeight",
            "no leaf weight on cgroup v2: ignored like runc",
        );
        let _c = start(&rt, &b, &id);
    } else if probe.as_ref().is_some_and(|p| p.exists()) {
        let c = start(&rt, &b, &id);
        View::new(&c, &test_cgroups_path(&id)).expect("blkio", "blkio.leaf_weight", "300");
    } else {
        skip(
            "blkio leafWeight",
            "no blkio.leaf_weight (no CFQ): checking the refusal runc gives too",
        );
        assert_create_refused(&rt, &b, &id, &["blkio.leaf_weight"]);
    }
}

/// A loop device on a small temporary image, switched to the bfq scheduler (which takes
/// per-device weights); detached on drop. None when losetup or bfq is not available.
struct BfqLoop {
    dev: String,
    img: PathBuf,
    majmin: (u64, u64),
}

impl BfqLoop {
    fn new() -> Option<BfqLoop> {
        let img = Path::new(BUNDLE_BASE).join(format!("{}.img", unique_id("bfq")));
        fs::create_dir_all(BUNDLE_BASE).ok()?;
        fs::File::create(&img).ok()?.set_len(8 << 20).ok()?;
        let o = output_with_timeout(
            std::process::Command::new("losetup")
                .args(["-f", "--show"])
                .arg(&img),
            T,
        );
        let dev = stdout_str(&o).trim().to_string();
        if !o.status.success() || dev.is_empty() {
            let _ = fs::remove_file(&img);
            return None;
        }
        let mut l = BfqLoop {
            dev,
            img,
            majmin: (0, 0),
        };
        let name = l.dev.trim_start_matches("/dev/").to_string();
        let sys = Path::new("/sys/block").join(&name);
        fs::write(sys.join("queue/scheduler"), "bfq").ok()?;
        let mm = fs::read_to_string(sys.join("dev")).ok()?;
        let (a, b) = mm.trim().split_once(':')?;
        l.majmin = (a.parse().ok()?, b.parse().ok()?);
        Some(l)
    }
}

impl Drop for BfqLoop {
    fn drop(&mut self) {
        let _ = output_with_timeout(
            std::process::Command::new("losetup").args(["-d", &self.dev]),
            T,
        );
        let _ = fs::remove_file(&self.img);
    }
}

#[test]
fn blkio_weight_device() {
    if !require("blkio weightDevice", &[io_ctrl()]) {
        return;
    }
    let rt = Runtime::new();
    let wd = |ma: u64, mi: u64| json!({ "blockIO": { "weightDevice": [ { "major": ma, "minor": mi, "weight": 300 } ] } });
    // 1. The disk behind /: whether a per-device weight is taken depends on the file the
    // kernel has for it: the bfq files only accept disks that use bfq (io.weight with iocost
    // any disk). Refused otherwise, like runc, naming the file and the value.
    match root_disk() {
        None => skip(
            "blkio weightDevice (root disk)",
            "/ is not on a block device",
        ),
        Some((ma, mi)) => {
            let id = unique_id("cgbwd");
            let b = cg_bundle(&id, wd(ma, mi));
            let c = Container::with_id(&rt, &b, &id);
            let o = c.try_create();
            let sched = scheduler(ma, mi);
            if o.status.success() {
                c.start();
                check_weight_device(&View::new(&c, &test_cgroups_path(&id)), ma, mi);
            } else {
                let err = stderr_str(&o);
                assert_fail1(&o, "create with weightDevice");
                assert!(
                    sched != "bfq",
                    "weightDevice on {ma}:{mi} (scheduler {sched}) refused: {err}"
                );
                assert!(
                    err.contains(&format!("{ma}:{mi} ")) && err.contains("weight"),
                    "refusal does not name the file and value: {err}"
                );
                eprintln!(
                    "NOTE blkio weightDevice: the root disk {ma}:{mi} uses {sched:?}: refused (as runc does), refusal checked"
                );
                assert_no_state(&rt, &id);
                assert!(poll_until(T, || cgroup_leftovers(&test_cgroups_path(&id)).is_empty()));
            }
        }
    }
    // 2. A private loop device switched to bfq takes the weight.
    let bfq_file = if is_v2() {
        "io.bfq.weight"
    } else {
        "blkio.bfq.weight_device"
    };
    let Some(lp) = BfqLoop::new() else {
        skip(
            "blkio weightDevice (bfq loop device)",
            "cannot set up a loop device with the bfq scheduler",
        );
        return;
    };
    let (ma, mi) = lp.majmin;
    let id = unique_id("cgbwdl");
    let b = cg_bundle(&id, wd(ma, mi));
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    if !v.has(io_ctrl(), bfq_file) && !v.has(io_ctrl(), "blkio.weight_device") {
        skip(
            "blkio weightDevice (bfq loop device)",
            &format!("no {bfq_file}"),
        );
        return;
    }
    check_weight_device(&v, ma, mi);
}

/// The per-device weight 300 of `ma:mi` shows in the weight file the runtime used.
fn check_weight_device(v: &View, ma: u64, mi: u64) {
    let (file, line) = if is_v2() {
        if v.has("io", "io.bfq.weight") {
            ("io.bfq.weight", format!("{ma}:{mi} 300"))
        } else {
            (
                "io.weight",
                format!("{ma}:{mi} {}", blkio_to_io_weight(300)),
            )
        }
    } else if v.has("blkio", "blkio.weight_device") {
        ("blkio.weight_device", format!("{ma}:{mi} 300"))
    } else {
        ("blkio.bfq.weight_device", format!("{ma}:{mi} 300"))
    };
    v.expect_line(io_ctrl(), file, &line);
}

#[test]
fn blkio_throttle() {
    if !require("blkio_throttle", &[io_ctrl()]) {
        return;
    }
    let Some((ma, mi)) = root_disk() else {
        skip("blkio throttle", "/ is not on a block device");
        return;
    };
    let rt = Runtime::new();
    let id = unique_id("cgthr");
    let dev = |rate: u64| json!([ { "major": ma, "minor": mi, "rate": rate } ]);
    let b = cg_bundle(
        &id,
        json!({ "blockIO": {
            "throttleReadBpsDevice": dev(1048576),
            "throttleWriteBpsDevice": dev(2097152),
            "throttleReadIOPSDevice": dev(1000),
            "throttleWriteIOPSDevice": dev(2000)
        } }),
    );
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    if is_v2() {
        v.expect_line(
            "io",
            "io.max",
            &format!("{ma}:{mi} rbps=1048576 wbps=2097152 riops=1000 wiops=2000"),
        );
    } else {
        let d = format!("{ma}:{mi}");
        v.expect_line(
            "blkio",
            "blkio.throttle.read_bps_device",
            &format!("{d} 1048576"),
        );
        v.expect_line(
            "blkio",
            "blkio.throttle.write_bps_device",
            &format!("{d} 2097152"),
        );
        v.expect_line(
            "blkio",
            "blkio.throttle.read_iops_device",
            &format!("{d} 1000"),
        );
        v.expect_line(
            "blkio",
            "blkio.throttle.write_iops_device",
            &format!("{d} 2000"),
        );
    }
}

// ---------------------------------------------------------------------------
// hugetlb
// ---------------------------------------------------------------------------

/// Huge page sizes of the kernel in the cgroup file notation ("2MB", "1GB"), with bytes.
fn hugepage_sizes() -> Vec<(String, u64)> {
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

#[test]
fn hugepage_limits() {
    let sizes = hugepage_sizes();
    let Some((size, bytes)) = sizes.first().cloned() else {
        skip("hugepageLimits", "the kernel has no huge pages");
        return;
    };
    let Some(mount) = ctrl_mount("hugetlb") else {
        skip("hugepageLimits", "no hugetlb controller");
        return;
    };
    if is_runc() && kind() == CgroupKind::Hybrid && mount == "unified" {
        skip(
            "hugepageLimits",
            "runc 1.1 cannot set hugetlb from the hybrid unified mount",
        );
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cghuge");
    let limit = 2 * bytes;
    let b = cg_bundle(
        &id,
        json!({ "hugepageLimits": [ { "pageSize": size, "limit": limit } ] }),
    );
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    let v1_files = !mount.is_empty() && mount != "unified";
    let (max, rsvd) = if v1_files {
        (
            format!("hugetlb.{size}.limit_in_bytes"),
            format!("hugetlb.{size}.rsvd.limit_in_bytes"),
        )
    } else {
        (
            format!("hugetlb.{size}.max"),
            format!("hugetlb.{size}.rsvd.max"),
        )
    };
    v.expect("hugetlb", &max, &limit.to_string());
    if v.has("hugetlb", &rsvd) {
        v.expect("hugetlb", &rsvd, &limit.to_string());
    } else {
        skip("hugepageLimits rsvd", &format!("no {rsvd}"));
    }
}

// ---------------------------------------------------------------------------
// network, rdma
// ---------------------------------------------------------------------------

#[test]
fn network_class_id_and_priorities() {
    let rt = Runtime::new();
    let id = unique_id("cgnet");
    let b = cg_bundle(
        &id,
        json!({ "network": { "classID": 1048577, "priorities": [ { "name": "lo", "priority": 5 } ] } }),
    );
    if is_v2() {
        skip(
            "network",
            "no net_cls/net_prio on cgroup v2: ignored like runc (create succeeds)",
        );
        let _c = start(&rt, &b, &id);
        return;
    }
    if ctrl_mount("net_cls").is_none() || ctrl_mount("net_prio").is_none() {
        skip(
            "network",
            "net_cls/net_prio are not mounted: checking the refusal (runc: cannot set net_cls limit)",
        );
        assert_create_refused(&rt, &b, &id, &["net_cls"]);
        return;
    }
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    v.expect("net_cls", "net_cls.classid", "1048577");
    v.expect_line("net_prio", "net_prio.ifpriomap", "lo 5");
}

#[test]
fn rdma_limits() {
    if ctrl_mount("rdma").is_none() {
        skip("rdma", "no rdma cgroup controller");
        return;
    }
    let devs: Vec<String> = fs::read_dir("/sys/class/infiniband")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let Some(dev) = devs.first() else {
        skip("rdma", "no rdma devices");
        return;
    };
    let rt = Runtime::new();
    let id = unique_id("cgrdma");
    let b = cg_bundle(
        &id,
        json!({ "rdma": { dev.as_str(): { "hcaHandles": 3, "hcaObjects": 1000 } } }),
    );
    let c = start(&rt, &b, &id);
    View::new(&c, &test_cgroups_path(&id)).expect_line(
        "rdma",
        "rdma.max",
        &format!("{dev} hca_handle=3 hca_object=1000"),
    );
}

// ---------------------------------------------------------------------------
// devices
// ---------------------------------------------------------------------------

#[test]
fn devices_rules() {
    let rt = Runtime::new();
    let id = unique_id("cgdev");
    let mut b = cg_bundle(&id, json!({}));
    // Major 42 has no driver: an open the device cgroup lets through fails with ENXIO,
    // one it denies with EPERM. The default spec denies all; then: 42:42 rw, 42:44 w only.
    b.config["linux"]["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!({ "allow": true, "type": "c", "major": 42, "minor": 42, "access": "rw" }),
            json!({ "allow": true, "type": "c", "major": 42, "minor": 44, "access": "w" }),
        ]);
    // mknod needs CAP_MKNOD (the device cgroup allows "m" for every device, like runc)
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_MKNOD"));
    }
    b.save();
    let c = start(&rt, &b, &id);
    let v = View::new(&c, &test_cgroups_path(&id));
    if is_v2() {
        skip(
            "devices.list",
            "cgroup v2 has no devices.list (eBPF): behaviour only",
        );
    } else {
        v.expect_line("devices", "devices.list", "c 42:42 rw");
        v.expect_line("devices", "devices.list", "c 42:44 w");
        v.expect_line("devices", "devices.list", "c 1:3 rwm");
        let (host, _) = v.read_both("devices", "devices.list").unwrap();
        assert!(
            !host.lines().any(|l| l.starts_with("a ")),
            "devices.list allows everything: {host}"
        );
    }
    // default-allowed /dev/null and /dev/zero work
    let (code, out) = v.sh("echo hi > /dev/null && head -c 1 /dev/zero | wc -c");
    assert_eq!((code, out.trim()), (0, "1"), "default devices: {out}");
    let (code, out) = v.sh(
        "mknod /dev/t42 c 42 42 && mknod /dev/t43 c 42 43 && mknod /dev/t44 c 42 44 && echo made",
    );
    assert_eq!(code, 0, "mknod: {out}");
    let open = |what: &str, script: &str, allowed: bool| {
        let (code, out) = v.sh(script);
        assert_ne!(
            code, 0,
            "{what}: opening a driverless device succeeded: {out}"
        );
        let want = if allowed {
            "No such device or address"
        } else {
            "Operation not permitted"
        };
        assert!(out.contains(want), "{what}: expected {want:?}: {out}");
    };
    open("read 42:42 (allowed rw)", "cat /dev/t42", true);
    open("write 42:42 (allowed rw)", "echo x > /dev/t42", true);
    open("read 42:43 (denied)", "cat /dev/t43", false);
    open("write 42:43 (denied)", "echo x > /dev/t43", false);
    open("read 42:44 (allowed w only)", "cat /dev/t44", false);
    open("write 42:44 (allowed w only)", "echo x > /dev/t44", true);
}

// ---------------------------------------------------------------------------
// unified
// ---------------------------------------------------------------------------

#[test]
fn unified_key_values() {
    let rt = Runtime::new();
    let id = unique_id("cguni");
    match kind() {
        CgroupKind::V1 => {
            skip("unified", "no cgroup2 mount: checking the refusal");
            let b = cg_bundle(&id, json!({ "unified": { "pids.max": "42" } }));
            assert_create_refused(&rt, &b, &id, &["unified"]);
        }
        CgroupKind::Hybrid if is_runc() => {
            skip("unified", "runc refuses unified resources on a hybrid host");
            let b = cg_bundle(&id, json!({ "unified": { "cgroup.max.descendants": "7" } }));
            assert_create_refused(&rt, &b, &id, &["unified"]);
        }
        CgroupKind::Hybrid => {
            // hull writes them to the container's dir in /sys/fs/cgroup/unified: only core
            // files and the controllers of that mount exist there.
            let mut m = serde_json::Map::new();
            m.insert("cgroup.max.descendants".into(), json!("7"));
            let huge = hugepage_sizes().first().map(|(s, b)| (s.clone(), *b));
            let huge = huge.filter(|_| ctrl_mount("hugetlb").as_deref() == Some("unified"));
            if let Some((s, bytes)) = &huge {
                m.insert(format!("hugetlb.{s}.max"), json!((4 * bytes).to_string()));
            }
            let b = cg_bundle(&id, json!({ "unified": m }));
            let c = start(&rt, &b, &id);
            let v = View::new(&c, &test_cgroups_path(&id));
            v.expect("cgroup", "cgroup.max.descendants", "7");
            if let Some((s, bytes)) = huge {
                v.expect(
                    "hugetlb",
                    &format!("hugetlb.{s}.max"),
                    &(4 * bytes).to_string(),
                );
            }
        }
        CgroupKind::V2 => {
            let mut kv = vec![("cgroup", "cgroup.max.descendants", "7".to_string())];
            if ctrl_mount("pids").is_some() {
                kv.push(("pids", "pids.max", "42".to_string()));
            }
            if ctrl_mount("memory").is_some() {
                kv.push(("memory", "memory.high", (96 * MIB).to_string()));
            }
            let m: serde_json::Map<String, Value> = kv
                .iter()
                .map(|(_, k, v)| (k.to_string(), json!(v)))
                .collect();
            let b = cg_bundle(&id, json!({ "unified": m }));
            let c = start(&rt, &b, &id);
            let v = View::new(&c, &test_cgroups_path(&id));
            for (ctrl, k, val) in &kv {
                v.expect(ctrl, k, val);
            }
        }
    }
}

#[test]
fn unified_unknown_key_is_refused() {
    if kind() == CgroupKind::V1 || (kind() == CgroupKind::Hybrid && is_runc()) {
        skip("unified unknown key", "no unified resources on this host");
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgunibad");
    let b = cg_bundle(&id, json!({ "unified": { "nosuchctl.max": "1" } }));
    assert_create_refused(&rt, &b, &id, &["nosuchctl.max"]);
    // a controller that exists on the host but not in the container's cgroup2 dir (hybrid:
    // memory lives in v1) or a file the kernel refuses: the error names the key
    let id2 = unique_id("cgunibad2");
    let (key, val) = if is_v2() {
        ("cgroup.max.descendants", "-5")
    } else {
        ("memory.high", "1000000")
    };
    let b2 = cg_bundle(&id2, json!({ "unified": { key: val } }));
    assert_create_refused(&rt, &b2, &id2, &[key]);
}

// ---------------------------------------------------------------------------
// values the kernel rejects
// ---------------------------------------------------------------------------

#[test]
fn rejected_values_name_file_and_value() {
    let rt = Runtime::new();
    // a cpu that does not exist
    if ctrl_mount("cpuset").is_some() {
        let id = unique_id("cgbadcpus");
        let b = cg_bundle(&id, json!({ "cpu": { "cpus": "99" } }));
        assert_create_refused(&rt, &b, &id, &["cpuset.cpus", "99"]);
    } else {
        skip("rejected cpuset.cpus", "no cpuset controller");
    }
    // a quota below the kernel's 1 ms minimum
    if require("rejected cpu quota", &["cpu"]) {
        let id = unique_id("cgbadquota");
        let b = cg_bundle(&id, json!({ "cpu": { "quota": 500, "period": 100000 } }));
        let file = if is_v2() {
            "cpu.max"
        } else {
            "cpu.cfs_quota_us"
        };
        assert_create_refused(&rt, &b, &id, &[file, "500"]);
    }
    // a blkio throttle on a device that does not exist
    if !require("rejected throttle device", &[io_ctrl()]) {
        return;
    }
    let id = unique_id("cgbaddev");
    let b = cg_bundle(
        &id,
        json!({ "blockIO": { "throttleReadBpsDevice": [ { "major": 259, "minor": 65000, "rate": 1000 } ] } }),
    );
    let file = if is_v2() {
        "io.max"
    } else {
        "blkio.throttle.read_bps_device"
    };
    assert_create_refused(&rt, &b, &id, &[file, "259:65000"]);
}

#[test]
fn rejected_values_hugetlb_size_and_cpu_shares() {
    let rt = Runtime::new();
    // a huge page size the kernel does not have: no such file
    if require("rejected hugetlb size", &["hugetlb"]) {
        let id = unique_id("cgbadhuge");
        let b = cg_bundle(
            &id,
            json!({ "hugepageLimits": [ { "pageSize": "3MB", "limit": 6291456 } ] }),
        );
        if is_runc() && ctrl_mount("hugetlb").as_deref() == Some("unified") {
            skip(
                "rejected hugetlb size",
                "runc 1.1 has no hugetlb on hybrid unified",
            );
        } else {
            assert_create_refused(&rt, &b, &id, &["hugetlb.3MB"]);
        }
    }
    // v1 cpu.shares outside 2..262144: the kernel clamps, the runtime reports it like runc
    if is_v2() {
        skip(
            "rejected cpu.shares",
            "v2 converts shares to a weight (clamped)",
        );
        return;
    }
    if !require("rejected cpu.shares", &["cpu"]) {
        return;
    }
    let id = unique_id("cgbadshares");
    let b = cg_bundle(&id, json!({ "cpu": { "shares": 1 } }));
    assert_create_refused(&rt, &b, &id, &["minimum allowed cpu-shares is 2"]);
    let id = unique_id("cgbadshares2");
    let b = cg_bundle(&id, json!({ "cpu": { "shares": 300000 } }));
    assert_create_refused(&rt, &b, &id, &["maximum allowed cpu-shares is 262144"]);
}

// ---------------------------------------------------------------------------
// lifecycle: kill --all, delete, pause/resume, ps
// ---------------------------------------------------------------------------

#[test]
fn kill_all_reaches_every_process() {
    let rt = Runtime::new();
    let id = unique_id("cgkillall");
    let mut b = cg_bundle(&id, json!({}));
    // Without a pid namespace killing the init leaves its children: --all must reach them.
    remove_namespace(&mut b, "pid");
    b.set_args(&["sh", "-c", "sleep 1001 & sleep 1002 & wait"]);
    b.save();
    let c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let o = rt.run(&["exec", "-d", &id, "sleep", "1003"]);
    assert_ok(&o, "exec -d");
    assert!(
        poll_until(T, || cgroup_procs(&cg).len() >= 4),
        "expected 4 processes in the cgroup: {:?}",
        cgroup_procs(&cg)
    );
    let pids = cgroup_procs(&cg);
    let o = rt.run(&["kill", "--all", &id, "TERM"]);
    assert_ok(&o, "kill --all TERM");
    assert!(
        poll_until(T, || pids.iter().all(|p| !pid_alive(*p))),
        "still alive after kill --all: {:?}",
        pids.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()
    );
    c.wait_status("stopped", T);
    assert!(
        poll_until(T, || cgroup_procs(&cg).is_empty()),
        "cgroup not empty: {:?}",
        cgroup_procs(&cg)
    );
}

/// containerd's runc shim sends `kill --all KILL` after the init exits whenever the
/// container does not own its pid namespace: leftover children are killed and it exits 0,
/// also when nothing is left (runc). Plain `kill TERM` of a stopped container stays an error;
/// plain `kill KILL` of one without its own pid namespace means the whole cgroup (runc 1.3).
#[test]
fn kill_all_of_stopped_container_reaps_leftovers() {
    let rt = Runtime::new();
    let id = unique_id("cgkillstopped");
    let mut b = cg_bundle(&id, json!({}));
    remove_namespace(&mut b, "pid");
    b.set_args(&["sh", "-c", "sleep 1004 & exit 0"]);
    b.save();
    let c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    c.wait_status("stopped", T);
    let left = cgroup_procs(&cg);
    assert_eq!(
        left.len(),
        1,
        "the background sleep outlives the init: {left:?}"
    );
    let o = rt.run(&["kill", "--all", &id, "KILL"]);
    assert_ok(
        &o,
        "kill --all of a stopped container with a leftover child",
    );
    assert!(
        poll_until(T, || !pid_alive(left[0])),
        "leftover child survived kill --all"
    );
    assert!(poll_until(T, || cgroup_procs(&cg).is_empty()));
    let o = rt.run(&["kill", "--all", &id, "KILL"]);
    assert_ok(&o, "kill --all of a stopped container with nothing left");
    let o = rt.run(&["kill", &id, "KILL"]);
    assert_ok(
        &o,
        "kill KILL of a stopped container sharing the pid namespace",
    );
    let o = rt.run(&["kill", &id, "TERM"]);
    assert_fail1(&o, "kill TERM of a stopped container");
    assert!(
        stderr_str(&o).contains("container not running"),
        "{}",
        describe(&o)
    );
    let o = rt.run(&["delete", &id]);
    assert_ok(&o, "delete");
    for args in [
        vec!["kill", "--all", &id, "KILL"],
        vec!["kill", &id, "KILL"],
        vec!["state", &id],
    ] {
        let o = rt.run(&args);
        assert_fail1(&o, &format!("{args:?} of a deleted container"));
        assert!(
            stderr_str(&o).contains("does not exist"),
            "{}",
            describe(&o)
        );
    }
    assert_no_state(&rt, &id);
    assert_no_cgroup(&cg);
}

/// Without a pid namespace of its own, killing the init leaves its children alive: runc's
/// `kill KILL` (no --all) then signals the whole cgroup.
#[test]
fn kill_sigkill_without_pid_ns_kills_every_process() {
    let rt = Runtime::new();
    let id = unique_id("cgkillhostpid");
    let mut b = cg_bundle(&id, json!({}));
    remove_namespace(&mut b, "pid");
    b.set_args(&["sh", "-c", "sleep 1005 & sleep 1006 & wait"]);
    b.save();
    let c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    assert!(poll_until(T, || cgroup_procs(&cg).len() >= 3));
    let pids = cgroup_procs(&cg);
    let o = rt.run(&["kill", &id, "KILL"]);
    assert_ok(&o, "kill KILL");
    assert!(
        poll_until(T, || pids.iter().all(|p| !pid_alive(*p))),
        "still alive after kill KILL: {:?}",
        pids.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()
    );
    c.wait_status("stopped", T);
}

#[test]
fn delete_removes_cgroup_in_every_hierarchy() {
    let rt = Runtime::new();
    let id = unique_id("cgdel");
    let b = cg_bundle(&id, json!({}));
    let c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let mut want: Vec<PathBuf> = all_hierarchies()
        .iter()
        .map(|m| m.join(cg.trim_start_matches('/')))
        .collect();
    if is_runc() && kind() == CgroupKind::Hybrid {
        // runc 1.1 makes no directory in the hybrid unified mount
        want.retain(|p| !p.starts_with("/sys/fs/cgroup/unified"));
    }
    want.sort();
    let mut have = cgroup_leftovers(&cg);
    have.sort();
    let missing: Vec<_> = want.iter().filter(|p| !have.contains(p)).collect();
    assert!(missing.is_empty(), "no container cgroup in {missing:?}");
    // the init is in the container's cgroup in every hierarchy
    let pid = c.pid();
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        // v1: the cgroup2 line is no hierarchy of ours; v2: only the cgroup2 line counts
        if (kind() == CgroupKind::V1) == ctrls.is_empty() && kind() != CgroupKind::Hybrid {
            continue;
        }
        if is_runc() && kind() == CgroupKind::Hybrid && ctrls.is_empty() {
            continue;
        }
        assert_eq!(path, cg, "init's cgroup in hierarchy {ctrls:?}: {own}");
    }
    c.kill("KILL");
    c.wait_status("stopped", T);
    c.delete();
    assert_no_state(&rt, &id);
    assert_cgroup_gone(&cg, "cgroup left after delete");

    // delete --force of a running container
    let id2 = unique_id("cgdelf");
    let b2 = cg_bundle(&id2, json!({}));
    let c2 = start(&rt, &b2, &id2);
    let cg2 = test_cgroups_path(&id2);
    let pids = cgroup_procs(&cg2);
    assert!(!pids.is_empty());
    let o = c2.delete_force();
    assert_ok(&o, "delete --force");
    assert_all_dead(&pids, "processes survived");
    assert_cgroup_gone(&cg2, "cgroup left after delete --force");
}

#[test]
fn delete_kills_processes_left_in_the_cgroup() {
    let rt = Runtime::new();
    let id = unique_id("cgdelleft");
    let mut b = cg_bundle(&id, json!({}));
    // no pid namespace: the init exits and leaves a child behind in the cgroup
    remove_namespace(&mut b, "pid");
    b.set_args(&["sh", "-c", "sleep 1000 & echo started; exit 0"]);
    b.save();
    let c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    c.wait_status("stopped", T);
    assert!(
        poll_until(T, || !cgroup_procs(&cg).is_empty()),
        "the background sleep is not in the cgroup"
    );
    let left = cgroup_procs(&cg);
    c.delete();
    assert_all_dead(&left, "processes left in the cgroup survived delete");
    assert_cgroup_gone(&cg, "cgroup left after delete");
}

#[test]
fn delete_removes_sub_cgroups_made_inside() {
    let rt = Runtime::new();
    let id = unique_id("cgsub");
    let mut b = cg_bundle(&id, json!({}));
    // a writable cgroupfs (with the cgroup namespace the container only sees its own cgroup)
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys/fs/cgroup" {
            m["options"] = json!(["nosuid", "noexec", "nodev", "relatime"]);
        }
    }
    b.save();
    let c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let mount = ["pids", "memory", "cgroup"]
        .iter()
        .find_map(|c| ctrl_mount(c))
        .unwrap();
    let dir = inside_path(&mount, "sub");
    let o = rt.run(&[
        "exec",
        "-d",
        &id,
        "sh",
        "-c",
        &format!("mkdir -p {dir}/deeper && echo $$ > {dir}/deeper/cgroup.procs && exec sleep 1000"),
    ]);
    assert_ok(&o, "exec -d into a sub-cgroup");
    let sub = host_dir(&mount, &format!("{cg}/sub/deeper"));
    assert!(
        poll_until(T, || fs::read_to_string(sub.join("cgroup.procs"))
            .is_ok_and(|s| !s.trim().is_empty())),
        "no process in {}",
        sub.display()
    );
    let pids = cgroup_procs(&cg);
    let o = c.delete_force();
    assert_ok(&o, "delete --force");
    assert_all_dead(&pids, "processes survived delete --force");
    assert_cgroup_gone(&cg, "cgroup (or its sub-cgroups) left after delete --force");
}

/// The freezer file of the container on the host, and what it shows frozen / thawed.
fn freezer_check(cg: &str, frozen: bool) {
    if let Some(m) = ctrl_mount("freezer") {
        let st = fs::read_to_string(host_dir(&m, cg).join("freezer.state")).unwrap();
        let want = if frozen { "FROZEN" } else { "THAWED" };
        assert_eq!(st.trim(), want, "freezer.state of {cg}");
    } else {
        let m = ctrl_mount("cgroup").expect("a freezer (v1 or cgroup2)");
        let d = host_dir(&m, cg);
        let f = fs::read_to_string(d.join("cgroup.freeze")).unwrap();
        assert_eq!(
            f.trim(),
            if frozen { "1" } else { "0" },
            "cgroup.freeze of {cg}"
        );
        let ev = fs::read_to_string(d.join("cgroup.events")).unwrap();
        let line = format!("frozen {}", u8::from(frozen));
        assert!(ev.lines().any(|l| l == line), "cgroup.events of {cg}: {ev}");
    }
}

#[test]
fn pause_resume_freezes_the_cgroup() {
    let rt = Runtime::new();
    let id = unique_id("cgpause");
    let mut b = cg_bundle(&id, json!({}));
    b.set_readonly(false);
    b.set_args(&[
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i > /tmp/cnt; sleep 0.02; done",
    ]);
    b.save();
    let c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let cnt = c.host_path("/tmp/cnt");
    let read = || -> u64 {
        fs::read_to_string(&cnt)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(poll_until(T, || read() > 2), "counter does not run");
    let o = rt.run(&["pause", &id]);
    assert_ok(&o, "pause");
    assert_eq!(c.status().as_deref(), Some("paused"));
    freezer_check(&cg, true);
    let a = read();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(), a, "the counter advanced while paused");
    let o = rt.run(&["resume", &id]);
    assert_ok(&o, "resume");
    assert_eq!(c.status().as_deref(), Some("running"));
    freezer_check(&cg, false);
    assert!(poll_until(T, || read() > a), "counter did not resume");
    // inside: the container's own freezer state is thawed
    let v = View::new(&c, &cg);
    if ctrl_mount("freezer").is_some() {
        v.expect("freezer", "freezer.state", "THAWED");
    } else {
        v.expect("cgroup", "cgroup.freeze", "0");
    }
}

#[test]
fn paused_container_kill_all_and_delete_force() {
    let rt = Runtime::new();
    // kill --all KILL of a paused container reaches every process (frozen tasks die)
    let id = unique_id("cgpkill");
    let mut b = cg_bundle(&id, json!({}));
    remove_namespace(&mut b, "pid");
    b.set_args(&["sh", "-c", "sleep 1001 & sleep 1002 & wait"]);
    b.save();
    let c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    assert!(poll_until(T, || cgroup_procs(&cg).len() >= 3));
    let pids = cgroup_procs(&cg);
    assert_ok(&rt.run(&["pause", &id]), "pause");
    freezer_check(&cg, true);
    assert_ok(
        &rt.run(&["kill", "--all", &id, "KILL"]),
        "kill --all KILL (paused)",
    );
    assert!(
        poll_until(T, || pids.iter().all(|p| !pid_alive(*p))),
        "processes of a paused container survived kill --all KILL: {:?}",
        pids.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()
    );
    c.wait_status("stopped", T);
    c.delete();
    assert_cgroup_gone(&cg, "cgroup left");

    // delete --force of a paused container kills it and removes the (frozen) cgroup
    let id2 = unique_id("cgpdel");
    let b2 = cg_bundle(&id2, json!({}));
    let c2 = start(&rt, &b2, &id2);
    let cg2 = test_cgroups_path(&id2);
    let pids2 = cgroup_procs(&cg2);
    assert_ok(&rt.run(&["pause", &id2]), "pause");
    assert_eq!(c2.status().as_deref(), Some("paused"));
    assert_ok(&c2.delete_force(), "delete --force (paused)");
    assert_no_state(&rt, &id2);
    assert_all_dead(
        &pids2,
        "processes of a paused container survived delete --force",
    );
    assert_cgroup_gone(
        &cg2,
        "cgroup left after delete --force of a paused container",
    );
}

/// runc resumes a paused container after `kill --all` with any signal, so a TERM handler can
/// run and the container can stop; the state must say so.
#[test]
fn kill_all_term_resumes_a_paused_container() {
    let rt = Runtime::new();
    let id = unique_id("cgpterm");
    let mut b = cg_bundle(&id, json!({}));
    b.set_args(&[
        "sh",
        "-c",
        "trap 'exit 7' TERM; while :; do sleep 0.1; done",
    ]);
    b.save();
    let c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    assert!(poll_until(T, || cgroup_procs(&cg).len() >= 2));
    assert_ok(&rt.run(&["pause", &id]), "pause");
    assert_eq!(c.status().as_deref(), Some("paused"));
    assert_ok(&rt.run(&["kill", "--all", &id, "TERM"]), "kill --all TERM");
    freezer_check(&cg, false);
    c.wait_status("stopped", T);
}

/// `ps` of a stopped container succeeds with nothing listed, as runc's (JSON `null`, the
/// table only its header).
#[test]
fn ps_of_a_stopped_container_is_empty() {
    let rt = Runtime::new();
    let id = unique_id("cgpsstop");
    let mut b = cg_bundle(&id, json!({}));
    b.set_args(&["true"]);
    b.save();
    let c = start(&rt, &b, &id);
    c.wait_status("stopped", T);
    let o = rt.run(&["ps", "--format", "json", &id]);
    assert_ok(&o, "ps --format json of a stopped container");
    assert_eq!(stdout_str(&o).trim(), "null", "{}", describe(&o));
    let o = rt.run(&["ps", &id]);
    assert_ok(&o, "ps of a stopped container");
    assert_eq!(stdout_str(&o).lines().count(), 1, "{}", describe(&o));
    assert!(stderr_str(&o).is_empty(), "{}", describe(&o));
}

#[test]
fn ps_lists_the_container_pids() {
    let rt = Runtime::new();
    let id = unique_id("cgps");
    let mut b = cg_bundle(&id, json!({}));
    b.set_args(&["sh", "-c", "sleep 1001 & sleep 1002 & wait"]);
    b.save();
    let _c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    assert!(poll_until(T, || cgroup_procs(&cg).len() >= 3));
    let o = rt.run(&["ps", "--format", "json", &id]);
    assert_ok(&o, "ps --format json");
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("ps json ({e}): {}", describe(&o)));
    let mut pids: Vec<i32> = v
        .as_array()
        .expect("ps json is an array")
        .iter()
        .map(|p| p.as_i64().expect("pid") as i32)
        .collect();
    pids.sort_unstable();
    assert_eq!(pids, cgroup_procs(&cg), "ps --format json vs cgroup.procs");
    let o = rt.run(&["ps", &id]);
    assert_ok(&o, "ps");
    let table = stdout_str(&o);
    assert!(
        table.lines().next().unwrap_or("").contains("PID"),
        "{table}"
    );
    for p in &pids {
        assert!(
            table.lines().skip(1).any(|l| l
                .split_whitespace()
                .nth(1)
                .is_some_and(|f| f == p.to_string())),
            "pid {p} missing in ps table: {table}"
        );
    }
}

// ---------------------------------------------------------------------------
// where the cgroup goes
// ---------------------------------------------------------------------------

/// The init's cgroup paths from /proc/<pid>/cgroup, as full host paths
/// (/sys/fs/cgroup/<mount>/<path>), for the hierarchies that are mounted.
fn init_cgroup_dirs(pid: i32) -> Vec<PathBuf> {
    let s = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut v = Vec::new();
    for line in s.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        let mount = match (kind(), ctrls) {
            (CgroupKind::V2, "") => String::new(),
            (CgroupKind::Hybrid, "") => "unified".to_string(),
            (CgroupKind::V1, "") | (CgroupKind::V2, _) => continue,
            (_, c) => c.strip_prefix("name=").unwrap_or(c).to_string(),
        };
        v.push(host_dir(&mount, path));
    }
    v.sort();
    v
}

/// rmdirs (after killing what is in them) the given cgroup directories on drop.
struct CgDirs(Vec<PathBuf>);

impl Drop for CgDirs {
    fn drop(&mut self) {
        remove_cgroup_dirs(&self.0);
    }
}

fn check_cgroup_dirs(rt: &Runtime, b: &Bundle, id: &str, want: &[PathBuf]) {
    let c = start(rt, b, id);
    let mut want = want.to_vec();
    if is_runc() && kind() == CgroupKind::Hybrid {
        want.retain(|p| !p.starts_with("/sys/fs/cgroup/unified"));
    }
    want.sort();
    for p in &want {
        assert!(
            p.is_dir(),
            "container cgroup {} does not exist",
            p.display()
        );
    }
    let mut have = init_cgroup_dirs(c.pid());
    have.retain(|p| {
        !(is_runc() && kind() == CgroupKind::Hybrid && p.starts_with("/sys/fs/cgroup/unified"))
    });
    assert_eq!(have, want, "init's cgroups");
    // inside, with a cgroup namespace, the container is at the root of every hierarchy
    let o = c.exec(&["cat", "/proc/self/cgroup"]);
    assert_ok(&o, "cat /proc/self/cgroup");
    for l in stdout_str(&o).lines() {
        let path = l.splitn(3, ':').nth(2).unwrap_or("");
        if kind() == CgroupKind::V1 && l.starts_with("0::") {
            continue;
        }
        assert_eq!(path, "/", "inside view of {l:?} with a cgroup namespace");
    }
    c.kill("KILL");
    c.wait_status("stopped", T);
    c.delete();
    assert!(
        poll_until(T, || want.iter().all(|p| !p.exists())),
        "cgroup left after delete: {:?}",
        want.iter().filter(|p| p.exists()).collect::<Vec<_>>()
    );
}

#[test]
fn cgroups_path_absolute() {
    let rt = Runtime::new();
    let id = unique_id("cgabs");
    let b = cg_bundle(&id, json!({}));
    let cg = test_cgroups_path(&id);
    let want: Vec<PathBuf> = all_hierarchies()
        .iter()
        .map(|m| m.join(cg.trim_start_matches('/')))
        .collect();
    check_cgroup_dirs(&rt, &b, &id, &want);
}

#[test]
fn cgroups_path_relative() {
    let rt = Runtime::new();
    let id = unique_id("cgrel");
    let rel = format!("hull-conf-rel/{id}");
    let mut b = cg_bundle(&id, json!({}));
    b.config["linux"]["cgroupsPath"] = json!(rel);
    b.save();
    // relative: below the caller's cgroup (v2: below its parent), like runc
    let want = default_cgroup_dirs(&rel);
    let _guard = CgDirs(want.clone());
    check_cgroup_dirs(&rt, &b, &id, &want);
    // the intermediate "hull-conf-rel" dirs stay (like runc); remove ours if empty
    for p in &want {
        if let Some(parent) = p.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}

#[test]
fn cgroups_path_default() {
    let rt = Runtime::new();
    let id = unique_id("cgdef");
    let mut b = cg_bundle(&id, json!({}));
    b.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("cgroupsPath");
    b.save();
    // none: <caller's cgroup>/<id> (v2: <parent of the caller's cgroup>/<id>), like runc
    let want = default_cgroup_dirs(&id);
    let _guard = CgDirs(want.clone());
    check_cgroup_dirs(&rt, &b, &id, &want);
    assert!(default_cgroup_leftovers(&id).is_empty());
}

#[test]
fn inside_view_without_cgroup_namespace() {
    if !require("inside view", &["pids"]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgnons");
    let mut b = cg_bundle(&id, json!({ "pids": { "limit": 77 } }));
    remove_namespace(&mut b, "cgroup");
    b.save();
    let c = start(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let m = ctrl_mount("pids").expect("pids controller");
    // v1: the container's own cgroup is bound at /sys/fs/cgroup/<hierarchy>; a fresh cgroup2
    // mount without a cgroup namespace shows the whole tree (runc on v2): accept both.
    let own = inside_path(&m, "pids.max");
    let full = inside_path(&m, &format!("{}/pids.max", cg.trim_start_matches('/')));
    let o = c.exec(&["sh", "-c", &format!("cat {own} 2>/dev/null || cat {full}")]);
    assert_ok(&o, "read pids.max inside");
    assert_eq!(stdout_str(&o).trim(), "77");
    // the default cgroupfs mount is read-only
    let o = c.exec(&["sh", "-c", &format!("echo 5 > {own}")]);
    assert!(!o.status.success(), "wrote to a read-only cgroupfs");
    assert!(
        stderr_str(&o).contains("Read-only file system"),
        "{}",
        describe(&o)
    );
    // /proc/self/cgroup shows the host path
    let o = c.exec(&["cat", "/proc/self/cgroup"]);
    let s = stdout_str(&o);
    assert!(
        s.lines().any(|l| l.ends_with(&format!(":{cg}"))),
        "no {cg} in {s}"
    );
}
