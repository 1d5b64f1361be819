//! Setup features checked from inside the container: namespaces (new, shared, joined by
//! path, user namespace mappings), hostname/domainname and sysctl.

mod features_common;

use features_common::*;
use hull_conformance::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::MetadataExt;

// ---------------------------------------------------------------------------
// namespaces
// ---------------------------------------------------------------------------

#[test]
fn namespaces_all_new() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    set_namespaces(
        &mut b,
        json!([{ "type": "pid" }, { "type": "network" }, { "type": "ipc" },
               { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }]),
    );
    let out = sh_ok(&rt, &mut b, &ns_script());
    let m = kv_lines(&out);
    for k in NS_KINDS {
        let inside = m.get(*k).unwrap_or_else(|| panic!("no {k} in {out:?}"));
        assert!(
            inside.starts_with(&format!("{k}:[")),
            "bad ns link {inside}"
        );
        assert_ne!(inside, &ns_link("self", k), "{k} namespace not new: {out}");
    }
    assert_eq!(m["selfpid"], "1", "shell is not pid 1 in a new pid ns");
}

#[test]
fn namespaces_not_requested_are_shared_with_host() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    // only pid + mount: net, ipc, uts and cgroup stay the host's
    set_namespaces(&mut b, json!([{ "type": "pid" }, { "type": "mount" }]));
    b.config.as_object_mut().unwrap().remove("hostname");
    let out = sh_ok(&rt, &mut b, &ns_script());
    let m = kv_lines(&out);
    for k in ["net", "ipc", "uts", "cgroup"] {
        assert_eq!(m[k], ns_link("self", k), "{k} should be the host's: {out}");
    }
    for k in ["pid", "mnt"] {
        assert_ne!(m[k], ns_link("self", k), "{k} should be new: {out}");
    }
}

#[test]
fn namespaces_joined_by_path() {
    let rt = Runtime::new();
    let id_a = unique_id("nsa");
    let mut ba = idle_bundle(&id_a);
    ba.config["hostname"] = json!("hull-joined-uts");
    ba.save();
    let a = Container::started(&rt, &ba, &id_a);
    let pid_a = a.pid();

    let mut bb = Bundle::busybox();
    bb.config.as_object_mut().unwrap().remove("hostname");
    set_namespaces(
        &mut bb,
        json!([
            { "type": "pid" },
            { "type": "mount" },
            { "type": "network", "path": format!("/proc/{pid_a}/ns/net") },
            { "type": "ipc", "path": format!("/proc/{pid_a}/ns/ipc") },
            { "type": "uts", "path": format!("/proc/{pid_a}/ns/uts") }
        ]),
    );
    let out = sh_ok(&rt, &mut bb, &(ns_script() + "; echo hostname $(hostname)"));
    let m = kv_lines(&out);
    for k in ["net", "ipc", "uts"] {
        assert_eq!(m[k], ns_link(pid_a, k), "{k} not joined: {out}");
        assert_ne!(m[k], ns_link("self", k));
    }
    // pid and mount are new, not A's
    assert_ne!(m["pid"], ns_link(pid_a, "pid"));
    assert_ne!(m["mnt"], ns_link(pid_a, "mnt"));
    assert_eq!(m["hostname"], "hull-joined-uts", "uts of A not visible");
}

#[test]
fn user_namespace_with_mappings() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.add_user_namespace();
    // a host dir owned by the mapped root, bind-mounted rw
    let data = b.dir.join("data");
    fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(100000), Some(100000)).unwrap();
    // mount points exist already (the rootfs is owned by the unmapped host root)
    fs::create_dir_all(b.rootfs().join("data")).unwrap();
    fs::create_dir_all(b.rootfs().join("scratch")).unwrap();
    b.add_mount(json!({ "destination": "/data", "type": "bind", "source": data, "options": ["rbind", "rw"] }),
    );
    b.add_mount(json!({ "destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"] }),
    );
    let out = sh_ok(
        &rt,
        &mut b,
        "echo uidmap $(cat /proc/self/uid_map); echo gidmap $(cat /proc/self/gid_map); \
         echo uid $(id -u); echo gid $(id -g); \
         touch /data/made && echo datafile $(stat -c %u:%g /data/made); \
         touch /scratch/t && echo tmpfsfile $(stat -c %u:%g /scratch/t); \
         echo rootowner $(stat -c %u /bin/busybox); echo userns $(readlink /proc/self/ns/user)",
    );
    let m = kv_lines(&out);
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(norm(&m["uidmap"]), "0 100000 65536", "{out}");
    assert_eq!(norm(&m["gidmap"]), "0 100000 65536", "{out}");
    assert_eq!(m["uid"], "0");
    assert_eq!(m["gid"], "0");
    assert_eq!(m["datafile"], "0:0", "{out}");
    assert_eq!(m["tmpfsfile"], "0:0", "{out}");
    // host root is not mapped: shows as the overflow uid
    assert_eq!(m["rootowner"], "65534", "{out}");
    assert_ne!(m["userns"], ns_link("self", "user"));
    let md = fs::metadata(data.join("made")).expect("file created through the bind mount");
    assert_eq!(
        (md.uid(), md.gid()),
        (100000, 100000),
        "host owner of a file created by container root"
    );
}

// ---------------------------------------------------------------------------
// hostname, domainname, sysctl
// ---------------------------------------------------------------------------

#[test]
fn hostname_and_domainname() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["hostname"] = json!("hull-test-host");
    b.config["domainname"] = json!("hull.example");
    let host_before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = sh_ok(
        &rt,
        &mut b,
        "echo hostname $(hostname); echo domain $(cat /proc/sys/kernel/domainname)",
    );
    let m = kv_lines(&out);
    assert_eq!(m["hostname"], "hull-test-host");
    if !is_runc() {
        // runc 1.1 ignores "domainname" (added in runc 1.2)
        assert_eq!(m["domain"], "hull.example");
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_before,
        "host hostname changed"
    );
}

#[test]
fn sysctl_namespaced_values_applied() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.config["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": "1",
        "kernel.shmmax": "12345678",
    });
    let fwd_before = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let shm_before = fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    let out = sh_ok(
        &rt,
        &mut b,
        "echo fwd $(cat /proc/sys/net/ipv4/ip_forward); echo shmmax $(cat /proc/sys/kernel/shmmax)",
    );
    let m = kv_lines(&out);
    assert_eq!(m["fwd"], "1");
    assert_eq!(m["shmmax"], "12345678");
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        fwd_before
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        shm_before
    );
}

#[test]
fn sysctl_not_namespaced_is_refused() {
    let rt = Runtime::new();
    let id = unique_id("sysctl");
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(&id));
    b.config["linux"]["sysctl"] = json!({ "kernel.pid_max": "40000" });
    b.save();
    let before = fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
    let c = Container::with_id(&rt, &b, &id);
    let o = c.try_create();
    assert_fail1(&o, "create with non-namespaced sysctl kernel.pid_max");
    assert_no_state(&rt, &id);
    assert!(
        poll_until(T, || cgroup_leftovers(&test_cgroups_path(&id)).is_empty()),
        "cgroup left: {:?}",
        cgroup_leftovers(&test_cgroups_path(&id))
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/pid_max").unwrap(),
        before,
        "host kernel.pid_max changed"
    );
    // a net.* sysctl without a network namespace is refused as well
    let id2 = unique_id("sysctl2");
    let mut b2 = Bundle::busybox();
    set_namespaces(&mut b2, json!([{ "type": "pid" }, { "type": "mount" }]));
    b2.config.as_object_mut().unwrap().remove("hostname");
    b2.config["linux"]["sysctl"] = json!({ "net.ipv4.ip_forward": "1" });
    b2.save();
    let c2 = Container::with_id(&rt, &b2, &id2);
    let o = c2.try_create();
    assert_fail1(&o, "net.* sysctl without a network namespace");
    assert_no_state(&rt, &id2);
}
