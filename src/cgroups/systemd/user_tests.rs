use super::manager::SystemdManager;
use super::naming::plan;
use super::user::*;
use crate::cgroups::{CgroupState, HostKind};
use anyhow::bail;
use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources};
use std::path::{Path, PathBuf};

/// A private scratch directory, removed when dropped (also when the test fails).
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!(
            "hull-user-systemd-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn never() -> anyhow::Result<String> {
    panic!("systemctl must not be asked")
}

#[test]
fn bus_address_from_the_environment_first() {
    let a = session_bus_address(Some("unix:path=/x/bus".into()), Some("/nope".into()), never);
    assert_eq!(a.unwrap(), "unix:path=/x/bus");
}

#[test]
fn bus_address_from_the_runtime_dir() {
    let s = Scratch::new("xdg");
    std::fs::write(s.0.join("bus"), "").unwrap();
    let xdg = s.0.to_str().unwrap().to_string();
    let a = session_bus_address(Some(String::new()), Some(xdg), never).unwrap();
    assert_eq!(a, format!("unix:path={}/bus", s.0.display()));
}

#[test]
fn bus_address_from_systemctl_last() {
    let s = Scratch::new("nobus");
    let xdg = Some(s.0.to_str().unwrap().to_string());
    let env = || Ok("HOME=/h\nDBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/7/bus\n".to_string());
    let a = session_bus_address(None, xdg.clone(), env).unwrap();
    assert_eq!(a, "unix:path=/run/user/7/bus");
    // Neither the environment nor systemd knows one: the error says what was looked at.
    let e = session_bus_address(None, xdg.clone(), || Ok("HOME=/h\n".into())).unwrap_err();
    assert!(format!("{e:#}").contains("no user D-Bus"), "{e:#}");
    let e = session_bus_address(None, xdg, || bail!("systemctl: not found")).unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("no user D-Bus") && e.contains("systemctl"),
        "{e}"
    );
}

#[test]
fn bus_address_parsing() {
    assert_eq!(
        parse_address("unix:path=/run/user/1000/bus").unwrap(),
        SocketAddr::Path(PathBuf::from("/run/user/1000/bus"))
    );
    assert_eq!(
        parse_address("tcp:host=h,port=1;unix:path=/a%20b,guid=01").unwrap(),
        SocketAddr::Path(PathBuf::from("/a b"))
    );
    assert_eq!(
        parse_address("unix:abstract=/tmp/dbus-XYZ,guid=0123").unwrap(),
        SocketAddr::Abstract(b"/tmp/dbus-XYZ".to_vec())
    );
    for bad in [
        "",
        "tcp:host=h",
        "unix:tmpdir=/tmp",
        "unix:path=/a%2",
        "unix:path=%zz",
    ] {
        assert!(parse_address(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn cgroup_paths_below_the_user_manager() {
    let mgr = "/user.slice/user-1000.slice/user@1000.service";
    // runc's default for rootless: user.slice of the user's manager.
    let p = plan(None, "c1", true).unwrap();
    assert_eq!(p.unit, "hull-c1.scope");
    assert_eq!(p.slice.as_deref(), Some("user.slice"));
    assert_eq!(
        under_manager(mgr, &p.cgroup).unwrap(),
        format!("{mgr}/user.slice/hull-c1.scope")
    );
    let p = plan(Some("app-x.slice:pfx:n"), "c1", true).unwrap();
    assert_eq!(
        under_manager(&format!("{mgr}/"), &p.cgroup).unwrap(),
        format!("{mgr}/app.slice/app-x.slice/pfx-n.scope")
    );
    // The root slice of the user manager is its own cgroup.
    let p = plan(Some("-:p:n"), "c1", true).unwrap();
    assert_eq!(
        under_manager(mgr, &p.cgroup).unwrap(),
        format!("{mgr}/p-n.scope")
    );
    assert_eq!(under_manager(mgr, "/").unwrap(), mgr);
    // The system instance keeps its default.
    assert_eq!(
        plan(None, "c1", false).unwrap().cgroup,
        "/system.slice/hull-c1.scope"
    );
    for bad in ["", "user.slice", "/a/../b"] {
        assert!(under_manager(bad, "/x.scope").is_err(), "{bad:?}");
    }
}

fn limits(mem: Option<i64>, pids: Option<i64>, cpus: Option<&str>) -> LinuxResources {
    let mut r = LinuxResources::default();
    if let Some(m) = mem {
        r.set_memory(Some(
            LinuxMemoryBuilder::default().limit(m).build().unwrap(),
        ));
    }
    if let Some(p) = pids {
        r.set_pids(Some(LinuxPidsBuilder::default().limit(p).build().unwrap()));
    }
    if let Some(c) = cpus {
        r.set_cpu(Some(LinuxCpuBuilder::default().cpus(c).build().unwrap()));
    }
    r
}

#[test]
fn controllers_needed() {
    let names = |r: &LinuxResources| required_controllers(r).into_iter().collect::<Vec<_>>();
    assert!(names(&LinuxResources::default()).is_empty());
    assert_eq!(
        names(&limits(Some(1 << 24), Some(20), None)),
        ["memory", "pids"]
    );
    assert_eq!(names(&limits(Some(0), None, Some("0"))), ["cpuset"]);
    let mut r = LinuxResources::default();
    r.set_devices(Some(vec![Default::default()]));
    r.set_unified(Some(
        [
            ("memory.high".to_string(), "1M".to_string()),
            ("cgroup.max.depth".into(), "2".into()),
        ]
        .into(),
    ));
    assert_eq!(names(&r), ["memory"]);
}

#[test]
fn delegation_is_checked_before_anything_is_made() {
    let s = Scratch::new("deleg");
    std::fs::write(s.0.join("cgroup.controllers"), "memory pids\n").unwrap();
    check_delegated(&s.0, &limits(Some(1 << 24), Some(20), None)).unwrap();
    check_delegated(&s.0, &LinuxResources::default()).unwrap();
    let e = check_delegated(&s.0, &limits(Some(1 << 24), None, Some("0-1"))).unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("cpuset") && e.contains("not delegated") && e.contains("memory pids"),
        "{e}"
    );
    std::fs::write(s.0.join("cgroup.controllers"), "").unwrap();
    let e = format!(
        "{:#}",
        check_delegated(&s.0, &limits(None, Some(5), None)).unwrap_err()
    );
    assert!(e.contains("pids") && e.contains("has: none"), "{e}");
    let gone = Path::new("/nonexistent-hull-manager-cgroup");
    assert!(check_delegated(gone, &limits(None, Some(5), None)).is_err());
}

#[test]
fn user_units_are_refused_on_cgroup_v1() {
    for kind in [HostKind::Hybrid, HostKind::V1] {
        let e = match SystemdManager::new(None, "c1", kind, true) {
            Ok(_) => panic!("a rootless systemd manager on {kind:?}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            e.contains("cannot use rootless systemd cgroups manager on cgroup v1"),
            "{e}"
        );
    }
}

#[test]
fn state_remembers_the_user_instance() {
    let st = CgroupState {
        kind: HostKind::V2,
        paths: [(
            String::new(),
            PathBuf::from("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/user.slice/hull-x.scope"),
        )]
        .into_iter()
        .collect(),
        systemd_unit: Some("hull-x.scope".into()),
        systemd_invocation: Some("ab".into()),
        systemd_user: true,
    };
    let json = serde_json::to_string(&st).unwrap();
    assert!(json.contains("\"systemd_user\":true"), "{json}");
    let back: CgroupState = serde_json::from_str(&json).unwrap();
    assert_eq!(crate::cgroups::load_manager(&back).unwrap().state(), st);
    // The system instance's state files stay as they were.
    let sys = CgroupState {
        systemd_user: false,
        ..st
    };
    assert!(!serde_json::to_string(&sys)
        .unwrap()
        .contains("systemd_user"));
}
