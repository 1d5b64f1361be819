//! docker 28: a private dockerd per test (own --data-root, --exec-root, socket, pidfile,
//! cgroup parent; no iptables, no bridge) with the runtime under test added as `hull`, and the
//! containerd it starts itself (the sid root's 2.1). Drop removes containers, stops the daemon
//! and its containerd, kills stragglers, removes cgroups, mounts and the temp dir.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::image;
use crate::harness::util::{
    boot_ticks, destroy_cgroup_tree, kill_cmdline_matching, kill_pidfiles_under, require_root,
    require_tool, run_cmd, runtime_for, try_run_cmd, unique, unmount_under, Output, TempDir,
    CMD_TIMEOUT,
};

pub const IMAGE: &str = "hull.test/busybox:latest";
/// The name under which dockerd knows the runtime under test.
pub const RUNTIME: &str = "hull";

pub struct Dockerd {
    pub sock: PathBuf,
    /// cgroup parent of every container (relative, no leading '/').
    pub cgroup_parent: String,
    io_dir: PathBuf,
    child: Option<Child>,
    started_ticks: u64,
    dir: TempDir,
}

impl Dockerd {
    pub fn start() -> Dockerd {
        for t in ["dockerd", "docker", "containerd", "containerd-shim-runc-v2"] {
            require_tool(t);
        }
        require_root();
        let dir = TempDir::new("hull-dockerd");
        let d = dir.path().to_path_buf();
        let runtime = runtime_for(&d);
        fs::write(d.join("daemon.json"), "{}\n").expect("write daemon.json");
        let mut me = Dockerd {
            sock: d.join("docker.sock"),
            cgroup_parent: unique("hull-docker"),
            io_dir: d.join("io"),
            child: None,
            started_ticks: boot_ticks().saturating_sub(100),
            dir,
        };
        let log = fs::File::create(d.join("dockerd.log")).expect("dockerd log");
        let log2 = log.try_clone().expect("dup log");
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", me.sock.display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .args([
                "--storage-driver",
                "overlay2",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            .arg("--cgroup-parent")
            .arg(format!("/{}", me.cgroup_parent))
            .arg("--add-runtime")
            .arg(format!("{RUNTIME}={}", runtime.display()))
            .env("DOCKER_CONFIG", d.join("cli"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        me.child = Some(cmd.spawn().expect("spawn dockerd"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("dockerd exited early ({st}); log:\n{}", me.log_tail());
            }
            let up = me.sock.exists()
                && try_run_cmd(
                    &mut me.cmd(&["version"]),
                    &me.io_dir,
                    Duration::from_secs(10),
                )
                .map(|o| o.code() == 0)
                .unwrap_or(false);
            if up {
                return me;
            }
            if Instant::now() > deadline {
                panic!("dockerd did not come up in 60s; log:\n{}", me.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_tail(&self) -> String {
        let s = fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `docker -H <our socket> <args>`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", self.dir.join("cli"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args);
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        run_cmd(&mut self.cmd(args), &self.io_dir, CMD_TIMEOUT)
    }

    /// `docker run --runtime hull --network none <extra>`.
    pub fn run(&self, extra: &[&str]) -> Output {
        let mut a = vec!["run", "--runtime", RUNTIME, "--network", "none"];
        a.extend_from_slice(extra);
        self.docker(&a)
    }

    /// `docker import` of the busybox rootfs tarball; returns the image name.
    pub fn import_busybox(&self) -> &'static str {
        let tar = image::busybox().rootfs_tar.to_string_lossy().into_owned();
        let env = format!("ENV {}", image::PATH_ENV);
        self.docker(&[
            "import",
            "--change",
            "CMD [\"sh\"]",
            "--change",
            &env,
            &tar,
            IMAGE,
        ])
        .ok();
        IMAGE
    }

    /// `docker inspect --format <fmt> <name>`, trimmed.
    pub fn inspect(&self, name: &str, fmt: &str) -> String {
        self.docker(&["inspect", "--format", fmt, name]).ok().out()
    }

    /// The container's cgroup (relative): `<parent>/<full id>`.
    pub fn cgroup_rel(&self, name: &str) -> String {
        format!("{}/{}", self.cgroup_parent, self.inspect(name, "{{.Id}}"))
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let short = Duration::from_secs(20);
        let io = self.io_dir.clone();
        if let Some(o) = try_run_cmd(&mut self.cmd(&["ps", "-aq"]), &io, short) {
            for id in o.stdout.split_whitespace() {
                try_run_cmd(&mut self.cmd(&["rm", "-f", id]), &io, short);
            }
        }
        kill_pidfiles_under(self.dir.path(), self.started_ticks);
        destroy_cgroup_tree(&self.cgroup_parent);
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // dockerd's containerd and shims carry our paths on their command lines.
        kill_cmdline_matching(&self.dir.path().to_string_lossy());
        destroy_cgroup_tree(&self.cgroup_parent);
        unmount_under(self.dir.path());
    }
}
