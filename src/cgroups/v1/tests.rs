use super::paths::{guess_mount, same_controllers};
use super::*;

#[test]
fn guesses() {
    assert_eq!(
        guess_mount("name=systemd"),
        PathBuf::from("/sys/fs/cgroup/systemd")
    );
    assert_eq!(
        guess_mount("cpu,cpuacct"),
        PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
    );
    assert!(same_controllers(
        &["cpu".into(), "cpuacct".into()],
        &["cpuacct".into(), "cpu".into()]
    ));
}

#[test]
fn state_roundtrip() {
    let mut paths = BTreeMap::new();
    paths.insert(
        "cpu,cpuacct".to_string(),
        PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/a/b"),
    );
    paths.insert(
        "name=systemd".to_string(),
        PathBuf::from("/sys/fs/cgroup/systemd/a/b"),
    );
    paths.insert(
        "unified".to_string(),
        PathBuf::from("/sys/fs/cgroup/unified/a/b"),
    );
    let st = CgroupState {
        kind: HostKind::Hybrid,
        paths,
        systemd_unit: None,
        systemd_invocation: None,
        systemd_user: false,
    };
    let m = V1Manager::from_state(&st);
    assert_eq!(m.state(), st);
    assert_eq!(
        m.path("cpuacct"),
        Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/a/b"))
    );
    assert_eq!(m.hier[0].mount, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
    assert_eq!(
        m.path("name=systemd"),
        Some(Path::new("/sys/fs/cgroup/systemd/a/b"))
    );
    assert_eq!(
        m.unified_path(),
        Some(Path::new("/sys/fs/cgroup/unified/a/b"))
    );
    let js = serde_json::to_string(&st).unwrap();
    assert!(js.contains("\"kind\":\"hybrid\""), "{js}");
}
