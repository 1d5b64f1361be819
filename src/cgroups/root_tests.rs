//! Tests that need root and a real cgroup filesystem. Each creates a unique cgroup
//! (/hull-unit-<pid>-<n>) and a guard that kills its processes and removes the cgroup even
//! when the test fails. Without root they return early.

use super::*;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "hull-unit-{}-{}-{}",
        tag,
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Destroys the cgroup and reaps the children on drop.
struct Guard {
    mgr: Box<dyn Manager>,
    children: Vec<Child>,
}

impl Guard {
    fn new(mgr: Box<dyn Manager>) -> Guard {
        Guard {
            mgr,
            children: Vec::new(),
        }
    }

    /// Start `sh -c script` and move it into the cgroup before the script runs (the shell
    /// waits for a line on stdin, sent after add_pid), so nothing it forks escapes.
    fn spawn(&mut self, script: &str) -> i32 {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("read _gate; {script}"))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = child.id() as i32;
        let mut stdin = child.stdin.take().unwrap();
        self.children.push(child);
        self.mgr.add_pid(pid).expect("add_pid");
        use std::io::Write;
        stdin.write_all(b"go\n").unwrap();
        pid
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.mgr.thaw();
        for c in &mut self.children {
            let _ = c.kill();
        }
        let _ = self.mgr.destroy();
        for c in &mut self.children {
            let _ = c.wait();
        }
    }
}

fn rd(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn dirs(state: &CgroupState) -> Vec<PathBuf> {
    state.paths.values().cloned().collect()
}

#[test]
fn lifecycle_limits_freeze_destroy() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let name = format!("/{}", unique("life"));
    let mgr = new_manager(Some(&name), "ignored-id", false, false).unwrap();
    let state = mgr.state();
    let mut g = Guard::new(mgr);
    g.mgr.create().unwrap();
    assert!(g.mgr.exists());
    for d in dirs(&state) {
        assert!(d.is_dir(), "{} not created", d.display());
        assert!(d.ends_with(&name[1..]), "{}", d.display());
    }
    let pid = g.spawn("exec sleep 1000");
    let r = res(r#"{
        "memory": {"limit": 67108864, "swap": 134217728, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 50}
    }"#);
    g.mgr.apply(&r).unwrap();
    assert!(g.mgr.pids().unwrap().contains(&pid));

    let kind = host_kind().unwrap();
    match kind {
        HostKind::V2 => {
            let d = g.mgr.state().paths[""].clone();
            assert_eq!(rd(&d.join("memory.max")), "67108864");
            assert_eq!(rd(&d.join("pids.max")), "50");
            assert_eq!(rd(&d.join("cpu.max")), "20000 100000");
            assert_eq!(rd(&d.join("cpu.weight")), shares_to_weight(512).to_string());
        }
        _ => {
            let p = |k: &str| {
                state
                    .paths
                    .iter()
                    .find(|(key, _)| key.split(',').any(|c| c == k))
                    .map(|(_, p)| p.clone())
                    .unwrap()
            };
            assert_eq!(rd(&p("memory").join("memory.limit_in_bytes")), "67108864");
            if p("memory").join("memory.memsw.limit_in_bytes").exists() {
                assert_eq!(
                    rd(&p("memory").join("memory.memsw.limit_in_bytes")),
                    "134217728"
                );
            }
            assert_eq!(
                rd(&p("memory").join("memory.soft_limit_in_bytes")),
                "33554432"
            );
            assert_eq!(rd(&p("pids").join("pids.max")), "50");
            assert_eq!(rd(&p("cpu").join("cpu.shares")), "512");
            assert_eq!(rd(&p("cpu").join("cpu.cfs_quota_us")), "20000");
            assert_eq!(rd(&p("cpu").join("cpu.cfs_period_us")), "100000");
            assert_eq!(rd(&p("cpuset").join("cpuset.cpus")), "0");
            // Every hierarchy has the process.
            for d in dirs(&state) {
                let procs = rd(&d.join("cgroup.procs"));
                assert!(
                    procs.lines().any(|l| l == pid.to_string()),
                    "{pid} not in {}",
                    d.display()
                );
            }
        }
    }

    // update: raise the memory limit, lower pids.
    g.mgr
        .apply(&res(
            r#"{"memory": {"limit": 100663296, "swap": 201326592}, "pids": {"limit": 20}}"#,
        ))
        .unwrap();
    let st = g.mgr.stats().unwrap();
    assert_eq!(st.pids.current, 1);
    assert_eq!(st.pids.limit, 20);
    assert_eq!(st.memory.usage.limit, 100663296);
    let js = serde_json::to_value(&st).unwrap();
    assert!(js["memory"]["usage"]["limit"].is_u64());
    if kind != HostKind::V2 {
        // Fields runc 1.1 reports on this kind of host.
        assert!(js["cpu"]["usage"]["percpu"].is_array(), "{js}");
        assert!(js["cpu"]["usage"]["kernel"].is_u64(), "{js}");
        assert!(js["cpuset"]["cpus"].is_array(), "{js}");
        assert!(js["cpuset"]["sched_relax_domain_level"].is_i64(), "{js}");
        assert!(js["memory"]["raw"]["total_cache"].is_u64(), "{js}");
        assert!(js["memory"]["kernelTCP"]["limit"].is_u64(), "{js}");
        assert!(js["network_interfaces"].is_null(), "{js}");
    }

    // freeze / thaw
    assert!(!g.mgr.is_frozen().unwrap());
    g.mgr.freeze().unwrap();
    assert!(g.mgr.is_frozen().unwrap());
    g.mgr.thaw().unwrap();
    assert!(!g.mgr.is_frozen().unwrap());

    // destroy kills the process and removes every directory
    g.mgr.destroy().unwrap();
    let status = g.children[0].wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    for d in dirs(&state) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    assert!(!g.mgr.exists());
    // destroying again is fine
    g.mgr.destroy().unwrap();
}

#[test]
fn destroy_kills_forking_tree_and_nested_cgroups() {
    if !is_root() {
        return;
    }
    let name = format!("/{}", unique("tree"));
    let mut g = Guard::new(new_manager(Some(&name), "x", false, false).unwrap());
    g.mgr.create().unwrap();
    let state = g.mgr.state();
    // A sub-cgroup left behind by the container (e.g. systemd inside).
    for d in dirs(&state) {
        std::fs::create_dir(d.join("sub")).unwrap();
    }
    g.spawn("sleep 1000 & sleep 1000 & while :; do sleep 1; done");
    assert!(util::wait_until(std::time::Duration::from_secs(5), || Ok(g
        .mgr
        .pids()?
        .len()
        >= 3))
    .unwrap());
    g.mgr.destroy().unwrap();
    for d in dirs(&state) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn load_manager_from_state() {
    if !is_root() {
        return;
    }
    let name = format!("/{}", unique("load"));
    let mut g = Guard::new(new_manager(Some(&name), "x", false, false).unwrap());
    g.mgr.create().unwrap();
    let pid = g.spawn("exec sleep 1000");
    let js = serde_json::to_string(&g.mgr.state()).unwrap();
    let st: CgroupState = serde_json::from_str(&js).unwrap();
    let m2 = load_manager(&st).unwrap();
    assert_eq!(m2.state(), g.mgr.state());
    assert_eq!(m2.pids().unwrap(), vec![pid]);
    m2.freeze().unwrap();
    assert!(g.mgr.is_frozen().unwrap());
    m2.thaw().unwrap();
    m2.destroy().unwrap();
    assert!(!g.mgr.exists());
}

#[test]
fn relative_default_path_follows_own_cgroup() {
    if !is_root() {
        return;
    }
    let id = unique("rel");
    let mgr = new_manager(None, &id, false, false).unwrap();
    let own = own_cgroups().unwrap();
    let state = mgr.state();
    let kind = host_kind().unwrap();
    for (k, p) in &state.paths {
        assert!(p.ends_with(&id), "{}", p.display());
        if kind != HostKind::V2 && k != "unified" {
            let mine = own.iter().find(|c| &c.controllers == k).unwrap();
            let want = format!("{}/{}", mine.path.trim_end_matches('/'), id);
            assert!(
                p.to_string_lossy().ends_with(&want),
                "{} does not end with {want}",
                p.display()
            );
        }
    }
    let g = Guard::new(mgr);
    g.mgr.create().unwrap();
    assert!(g.mgr.exists());
    g.mgr.destroy().unwrap();
    assert!(!g.mgr.exists());
}

#[test]
fn rejected_value_names_file_and_value() {
    if !is_root() {
        return;
    }
    let name = format!("/{}", unique("bad"));
    let g = Guard::new(new_manager(Some(&name), "x", false, false).unwrap());
    g.mgr.create().unwrap();
    let e = g
        .mgr
        .apply(&res(r#"{"cpu": {"cpus": "9999"}}"#))
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("cpuset.cpus"), "{msg}");
    assert!(msg.contains("\"9999\""), "{msg}");
}

#[test]
fn v1_devices_rules_and_update() {
    if !is_root() || host_kind().unwrap() == HostKind::V2 {
        return;
    }
    let name = format!("/{}", unique("dev"));
    let g = Guard::new(new_manager(Some(&name), "x", false, false).unwrap());
    g.mgr.create().unwrap();
    let dev = g
        .mgr
        .state()
        .paths
        .get("devices")
        .cloned()
        .expect("devices hierarchy");
    let mut r = res(r#"{"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 136, "access": "rw"}]}"#);
    g.mgr.apply(&r).unwrap();
    let list = rd(&dev.join("devices.list"));
    let mut lines: Vec<&str> = list.lines().collect();
    lines.sort();
    let mut want = vec!["c 1:3 rwm", "c 136:* rw"];
    want.sort();
    assert_eq!(lines, want);
    // Update: drop /dev/null write access, add /dev/zero.
    r = res(r#"{"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
        {"allow": true, "type": "c", "major": 136, "access": "rw"}]}"#);
    g.mgr.apply(&r).unwrap();
    let list = rd(&dev.join("devices.list"));
    let mut lines: Vec<&str> = list.lines().collect();
    lines.sort();
    let mut want = vec!["c 1:3 rm", "c 1:5 rwm", "c 136:* rw"];
    want.sort();
    assert_eq!(lines, want);
    // Allow everything again.
    g.mgr
        .apply(&res(r#"{"devices": [{"allow": true, "access": "rwm"}]}"#))
        .unwrap();
    assert_eq!(rd(&dev.join("devices.list")), "a *:* rwm");
}

#[test]
fn hugetlb_limits() {
    if !is_root() || util::hugepage_sizes().is_empty() {
        return;
    }
    let name = format!("/{}", unique("huge"));
    let g = Guard::new(new_manager(Some(&name), "x", false, false).unwrap());
    g.mgr.create().unwrap();
    let size = util::hugepage_sizes()[0].clone();
    let r = res(&format!(
        r#"{{"hugepageLimits": [{{"pageSize": "{size}", "limit": 4194304}}]}}"#
    ));
    g.mgr.apply(&r).unwrap();
    let st = g.mgr.state();
    let (dir, file) = match (host_kind().unwrap(), st.paths.get("hugetlb")) {
        (HostKind::V2, _) => (st.paths[""].clone(), format!("hugetlb.{size}.max")),
        (_, Some(d)) => (d.clone(), format!("hugetlb.{size}.limit_in_bytes")),
        (_, None) => (st.paths["unified"].clone(), format!("hugetlb.{size}.max")),
    };
    assert_eq!(rd(&dir.join(file)), "4194304");
    let s = g.mgr.stats().unwrap();
    assert!(s.hugetlb.contains_key(&size), "{:?}", s.hugetlb);
}

#[test]
fn nonexistent_cgroup_destroy_is_ok() {
    if !is_root() {
        return;
    }
    let name = format!("/{}", unique("none"));
    let m = new_manager(Some(&name), "x", false, false).unwrap();
    assert!(!m.exists());
    m.destroy().unwrap();
    assert!(m.pids().unwrap().is_empty());
}

#[test]
fn systemd_driver_errors_clearly() {
    let e = match new_manager(None, "x", true, false) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("systemd driver should not be available"),
    };
    assert!(e.contains("systemd"), "{e}");
}

/// The cgroup2 device hook works on the hybrid unified tree too, so the eBPF filter can be
/// checked here: a process in the cgroup can open /dev/zero but not /dev/null.
#[test]
fn bpf_device_filter_enforced() {
    if !is_root() {
        return;
    }
    let name = format!("/{}", unique("bpf"));
    let mut g = Guard::new(new_manager(Some(&name), "x", false, false).unwrap());
    g.mgr.create().unwrap();
    let st = g.mgr.state();
    let dir = match host_kind().unwrap() {
        HostKind::V2 => st.paths[""].clone(),
        HostKind::Hybrid => st.paths["unified"].clone(),
        HostKind::V1 => return,
    };
    let mut rules = vec![DeviceRule {
        allow: false,
        typ: 'a',
        major: None,
        minor: None,
        access: devices::ACC_ALL,
    }];
    rules.push(DeviceRule::allow('c', Some(1), Some(5), "rwm")); // /dev/zero
    devices_bpf::apply(&dir, &rules).unwrap();
    let pid = g.spawn(
        "(exec 3</dev/zero) || exit 10; if (exec 4</dev/null) 2>&-; then exit 11; fi; exit 0",
    );
    let child = g
        .children
        .iter_mut()
        .find(|c| c.id() as i32 == pid)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // Re-applying replaces the program (only one stays attached); allow-all detaches it.
    assert_eq!(devices_bpf::attached_programs(&dir).unwrap(), 1);
    devices_bpf::apply(&dir, &rules).unwrap();
    assert_eq!(devices_bpf::attached_programs(&dir).unwrap(), 1);
    devices_bpf::apply(&dir, &[DeviceRule::allow('a', None, None, "rwm")]).unwrap();
    assert_eq!(devices_bpf::attached_programs(&dir).unwrap(), 0);
    let pid = g.spawn("exec 4</dev/null || exit 12; exit 0");
    let child = g
        .children
        .iter_mut()
        .find(|c| c.id() as i32 == pid)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// The v2 manager on whatever cgroup2 mount the host has (the unified tree of a hybrid host
/// has no memory/cpu/pids controllers, but freeze, kill, pids, hugetlb and stats work).
#[test]
fn v2_manager_on_cgroup2_mount() {
    if !is_root() {
        return;
    }
    let root = match host_kind().unwrap() {
        HostKind::V2 => PathBuf::from(CGROUP_ROOT),
        HostKind::Hybrid => PathBuf::from(UNIFIED_HYBRID),
        HostKind::V1 => return,
    };
    let name = unique("v2");
    let path = root.join(&name).join("leaf");
    let mut g = Guard::new(Box::new(v2::V2Manager::with_root(
        root.clone(),
        path.clone(),
    )));
    // The guard destroys the leaf; remove the intermediate level too.
    struct RmDir(PathBuf);
    impl Drop for RmDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _mid = RmDir(root.join(&name));
    g.mgr.create().unwrap();
    assert!(path.is_dir());
    // Every controller available at the root was delegated down to the leaf.
    let want = rd(&root.join("cgroup.controllers"));
    assert_eq!(rd(&path.join("cgroup.controllers")), want);
    let pid = g.spawn("sleep 1000 & exec sleep 1000");
    assert!(util::wait_until(std::time::Duration::from_secs(5), || Ok(g
        .mgr
        .pids()?
        .len()
        == 2))
    .unwrap());
    assert!(g.mgr.pids().unwrap().contains(&pid));
    if let Some(size) = util::hugepage_sizes().first() {
        if want.split_whitespace().any(|c| c == "hugetlb") {
            let r = res(&format!(
                r#"{{"hugepageLimits": [{{"pageSize": "{size}", "limit": 2097152}}]}}"#
            ));
            g.mgr.apply(&r).unwrap();
            assert_eq!(rd(&path.join(format!("hugetlb.{size}.max"))), "2097152");
        }
    }
    g.mgr.freeze().unwrap();
    assert!(g.mgr.is_frozen().unwrap());
    let stat = rd(&Path::new("/proc").join(pid.to_string()).join("stat"));
    assert!(stat.contains(") S "), "{stat}");
    g.mgr.thaw().unwrap();
    assert!(!g.mgr.is_frozen().unwrap());
    let s = g.mgr.stats().unwrap();
    assert!(s.cpu.usage.total > 0 || s.cpu.usage.user + s.cpu.usage.kernel == 0);
    assert_eq!(g.mgr.state().paths.get(""), Some(&path));
    // Freeze, then destroy: cgroup.kill works on frozen cgroups too.
    g.mgr.freeze().unwrap();
    g.mgr.destroy().unwrap();
    assert!(!path.exists());
}

#[test]
fn signal_all_reaches_frozen_processes() {
    if !is_root() {
        return;
    }
    let name = format!("/{}", unique("sigall"));
    let mgr = new_manager(Some(&name), "ignored-id", false, false).unwrap();
    let mut g = Guard::new(mgr);
    g.mgr.create().unwrap();
    g.spawn("sleep 1000 & exec sleep 1000");
    let two = || {
        util::wait_until(std::time::Duration::from_secs(5), || {
            Ok(g.mgr.pids()?.len() == 2)
        })
    };
    assert!(two().unwrap());
    let pids = g.mgr.pids().unwrap();
    // a paused cgroup is resumed after the signal, as runc does ...
    g.mgr.freeze().unwrap();
    g.mgr.signal_all(libc::SIGCONT).unwrap();
    assert!(!g.mgr.is_frozen().unwrap());
    // ... and SIGKILL reaches every process even when frozen (v1 tasks die once thawed)
    g.mgr.freeze().unwrap();
    g.mgr.signal_all(libc::SIGKILL).unwrap();
    let gone = |p: i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    };
    assert!(
        util::wait_until(std::time::Duration::from_secs(5), || Ok(pids
            .iter()
            .all(|p| gone(*p))))
        .unwrap()
    );
    assert!(!g.mgr.is_frozen().unwrap());
    // a running cgroup is thawed again after the signal
    g.spawn("exec sleep 1000");
    g.mgr.signal_all(libc::SIGCONT).unwrap();
    assert!(!g.mgr.is_frozen().unwrap());
}
