//! Rootless podman 5 (in the sid root) driving the runtime under test.

use super::t;
use super::user::{self, TestUser};
use hull_conformance::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Output;

/// Rootless podman 5 (sid root) as an unprivileged user with `--runtime <runtime under test>`:
/// podman runs the runtime as root of its own user namespace (the user's id and subordinate
/// ids), so rootless mode is chosen by the "inside a user namespace" rule, cgroups are
/// skipped (cgroupfs manager, no delegation) and device nodes are bind-mounted.
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn rootless_podman_run_exec_stop_rm_and_a_volume() {
    for tool in ["podman", "conmon"] {
        assert!(
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .status()
                .map(|s| s.success())
                .unwrap_or(false),
            "{tool} is not installed (run inside the sid root)"
        );
    }
    let u = TestUser::new(true);
    let pod = Podman::new(&u);
    // A busybox image from a rootfs tarball (no registry).
    let rootfs = u.home.join("img");
    make_busybox_rootfs(&rootfs);
    let tar = u.home.join("busybox.tar");
    let o = output_with_timeout(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        t(60),
    );
    assert_ok(&o, "tar of the busybox rootfs");
    user::chown_tree(&u.home, u.uid, u.gid);
    let tar_s = tar.to_str().unwrap();
    pod.ok(&[
        "import",
        "--quiet",
        "--change",
        "CMD=sh",
        tar_s,
        "hull.test/rl-busybox:latest",
    ]);

    // run: the container's root is the user; the rest of the ids are its subordinate ids.
    let (sub, count) = u.subids.unwrap();
    let o = pod.ok(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        "none",
        "hull.test/rl-busybox:latest",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
    ]);
    let out: Vec<String> = stdout_str(&o)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        out,
        vec![
            "0".to_string(),
            format!("0 {} 1", u.uid),
            format!("1 {sub} {count}"),
        ],
        "run output"
    );

    // A detached container with a volume from the user's home; exec writes through it.
    let vol = u.home.join("vol");
    fs::create_dir(&vol).unwrap();
    std::os::unix::fs::chown(&vol, Some(u.uid), Some(u.gid)).unwrap();
    let name = unique_id("rlpod");
    let volume = format!("{}:/vol", vol.display());
    pod.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--pull",
        "never",
        "--network",
        "none",
        "-v",
        &volume,
        "hull.test/rl-busybox:latest",
        "sleep",
        "1000",
    ]);
    let o = pod.ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "echo written-by-exec > /vol/f; id -u",
    ]);
    assert_eq!(
        stdout_str(&o).trim(),
        "0",
        "exec runs as the container's root"
    );
    assert_eq!(
        fs::read_to_string(vol.join("f")).unwrap(),
        "written-by-exec\n"
    );
    // Written by the container's root: the user's own file on the host.
    assert_eq!(fs::metadata(vol.join("f")).unwrap().uid(), u.uid);
    let o = pod.ok(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(stdout_str(&o).trim(), "running");
    pod.ok(&["stop", "-t", "1", &name]);
    let o = pod.ok(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(stdout_str(&o).trim(), "exited");
    pod.ok(&["rm", &name]);
    let o = pod.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !stdout_str(&o).contains(&name),
        "container still listed: {}",
        stdout_str(&o)
    );
}

/// Rootless podman for one test user: storage under the user's home, cgroupfs manager, file
/// events. Drop removes every container and the storage (as the user, who owns it through
/// its user namespace).
struct Podman<'a> {
    user: &'a TestUser,
}

impl<'a> Podman<'a> {
    fn new(user: &'a TestUser) -> Podman<'a> {
        Podman { user }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let runtime = hull_bin();
        let mut c = self.user.cmd(Path::new("podman"), &[]);
        c.arg("--runtime")
            .arg(&runtime)
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args)
            .env("PODMAN_IGNORE_CGROUPSV1_WARNING", "1");
        c
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> Output {
        let o = output_with_timeout(&mut self.cmd(args), t(120));
        assert_ok(&o, &format!("podman {args:?}"));
        o
    }
}

impl Drop for Podman<'_> {
    fn drop(&mut self) {
        let _ = output_with_timeout(&mut self.cmd(&["rm", "-f", "-a", "-t", "0"]), t(120));
        let _ = output_with_timeout(&mut self.cmd(&["system", "reset", "-f"]), t(120));
    }
}
