//! Namespaces and cgroups on restore: a cgroup namespace of the container's own, a UTS
//! namespace joined by path.

use super::*;
use serde_json::json;
use std::path::PathBuf;

/// A container with its own cgroup namespace (a real cgroup mount inside) restores into its
/// cgroup, and sees itself at the root of its cgroup namespace again.
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn cgroup_namespace_container_restores() {
    let rt = Runtime::new();
    let id = unique_id("crcg");
    let mut b = counting_bundle(&id, COUNTER);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    b.save();
    let (c, _pipes) = start_counter(&rt, &b, &id);
    let before = stdout_str(&c.exec(&["cat", "/proc/self/cgroup"]));
    let images = b.dir.join("images");
    rt.run_ok(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    let stopped_at = frozen_count(&b);
    let _restored = restore_detached(&rt, &b, &id, &images, &[]);
    wait_count(&b, "restored counter runs", |n| n > stopped_at);
    let after = stdout_str(&c.exec(&["cat", "/proc/1/cgroup"]));
    let inside = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = s
            .lines()
            .map(|l| l.splitn(3, ':').nth(2).unwrap_or("").to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(
        inside(&after),
        vec!["/".to_string()],
        "the init's cgroup namespace root moved: {after} (before: {before})"
    );
    check_normal_container(&c, &b);
}

/// A UTS namespace file (`unshare --uts=<file>`), unmounted on drop.
struct UtsNs(PathBuf);

impl Drop for UtsNs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A namespace joined by path (other than net and pid) is joined again on restore (CRIU's
/// join_ns, as runc asks for it).
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn uts_namespace_joined_by_path_is_joined_again() {
    use std::os::unix::fs::MetadataExt;
    let rt = Runtime::new();
    let id = unique_id("cruts");
    let mut b = counting_bundle(&id, COUNTER);
    let file = b.dir.join("uts");
    std::fs::write(&file, b"").unwrap();
    let st = std::process::Command::new("unshare")
        .arg(format!("--uts={}", file.display()))
        .args(["hostname", "joined-uts"])
        .status()
        .expect("unshare");
    assert!(st.success(), "unshare --uts: {st}");
    let ns = UtsNs(file.clone());
    let ino = std::fs::metadata(&ns.0).unwrap().ino();
    for n in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if n["type"] == "uts" {
            n["path"] = json!(file.to_str().unwrap());
        }
    }
    b.config.as_object_mut().unwrap().remove("hostname");
    b.save();
    let (c, _pipes) = start_counter(&rt, &b, &id);
    let images = b.dir.join("images");
    rt.run_ok(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    let stopped_at = frozen_count(&b);
    let _restored = restore_detached(&rt, &b, &id, &images, &[]);
    wait_count(&b, "restored counter runs", |n| n > stopped_at);
    let link = std::fs::read_link(format!("/proc/{}/ns/uts", c.pid())).unwrap();
    assert_eq!(
        link.to_string_lossy(),
        format!("uts:[{ino}]"),
        "not in the joined namespace"
    );
    assert_eq!(stdout_str(&c.exec(&["hostname"])).trim(), "joined-uts");
    check_normal_container(&c, &b);
}
