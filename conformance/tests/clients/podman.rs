//! podman (+ conmon) with `--runtime <runtime under test>` and fully private
//! storage (`--root`, `--runroot`, `--tmpdir` under a unique temp dir),
//! cgroupfs manager with a unique `--cgroup-parent`, file events backend and
//! no network. Drop removes all containers, kills stragglers (conmon),
//! unmounts storage and removes the cgroup parent and the temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::image;
use super::util::{
    destroy_cgroup_tree, kill_cmdline_matching, require_tool, run_cmd, runtime_for, try_run_cmd,
    unique, unmount_under, wait_for, Bg, Output, TempDir, CMD_TIMEOUT,
};

pub const IMAGE_REF: &str = "hull.test/busybox:latest";

pub struct Podman {
    pub runtime: PathBuf,
    /// cgroup parent (relative, without leading '/'), unique per instance.
    pub cgroup_parent: String,
    io_dir: PathBuf,
    started_ticks: u64,
    dir: TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        for t in ["podman", "conmon"] {
            require_tool(t);
        }
        super::util::require_root();
        let dir = TempDir::new("hull-podman");
        for d in ["root", "runroot", "tmp", "io"] {
            std::fs::create_dir_all(dir.join(d)).expect("mkdir");
        }
        Podman {
            runtime: runtime_for(dir.path()),
            cgroup_parent: unique("hull-podman"),
            io_dir: dir.join("io"),
            started_ticks: super::util::boot_ticks().saturating_sub(100),
            dir,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `podman <global isolation flags> <args>`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.env("TMPDIR", d.join("tmp"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--runtime")
            .arg(&self.runtime)
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--storage-driver",
                "overlay",
            ])
            .args(args);
        c
    }

    pub fn podman(&self, args: &[&str]) -> Output {
        run_cmd(&mut self.cmd(args), &self.io_dir, CMD_TIMEOUT)
    }

    pub fn spawn(&self, mut cmd: Command) -> Bg {
        Bg::spawn(&mut cmd, &self.io_dir)
    }

    /// Flags every `podman run` here needs: no network, rlimits we are
    /// allowed to set (no CAP_SYS_RESOURCE), our private cgroup parent.
    pub fn run_flags(&self) -> Vec<String> {
        [
            "--pull",
            "never",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "--cgroup-parent",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("/{}", self.cgroup_parent)])
        .collect()
    }

    /// `podman run <run_flags> <extra...>`.
    pub fn run_cmd(&self, extra: &[&str]) -> Command {
        let mut a: Vec<String> = vec!["run".into()];
        a.extend(self.run_flags());
        a.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        self.cmd(&a)
    }

    pub fn run(&self, extra: &[&str]) -> Output {
        run_cmd(&mut self.run_cmd(extra), &self.io_dir, CMD_TIMEOUT)
    }

    /// Runs an arbitrary prepared command (e.g. wrapped in `under_tty`).
    pub fn exec(&self, mut cmd: Command) -> Output {
        run_cmd(&mut cmd, &self.io_dir, CMD_TIMEOUT)
    }

    /// Imports the busybox rootfs tarball as an image; returns its reference.
    pub fn import_busybox(&self) -> &'static str {
        let img = image::busybox();
        let tar = img.rootfs_tar.to_string_lossy().into_owned();
        self.podman(&[
            "import",
            "--quiet",
            "--change",
            "CMD=sh",
            "--change",
            &format!("ENV={}", image::PATH_ENV),
            &tar,
            "hull.test/busybox:latest",
        ])
        .ok();
        IMAGE_REF
    }

    /// `podman inspect --format <fmt> <name>`, trimmed.
    pub fn inspect(&self, name: &str, fmt: &str) -> String {
        self.podman(&["inspect", "--format", fmt, name]).ok().out()
    }

    pub fn wait_state(&self, name: &str, want: &str, timeout: Duration) {
        wait_for(timeout, &format!("{name} to be {want}"), || {
            (self.inspect(name, "{{.State.Status}}") == want).then_some(())
        });
    }

    /// All container ids in our private storage (any state).
    pub fn all_containers(&self) -> Vec<String> {
        let o = self.podman(&["ps", "-a", "-q", "--no-trunc"]).ok();
        o.stdout.split_whitespace().map(str::to_string).collect()
    }

    /// Asserts nothing is left of a removed container with full id `id`:
    /// not listed, cgroup gone, nothing mounted from its storage.
    pub fn assert_gone(&self, id: &str) {
        assert!(
            !self.all_containers().iter().any(|c| c == id),
            "container {id} still listed by podman"
        );
        let rel = format!("{}/libpod-{id}", self.cgroup_parent);
        wait_for(
            Duration::from_secs(5),
            &format!("cgroup {rel} removed"),
            || super::util::cgroup_dirs(&rel).is_empty().then_some(()),
        );
        let ms: Vec<_> = super::util::mounts_under(&self.dir.join("root"))
            .into_iter()
            .filter(|m| m.to_string_lossy().contains(id))
            .collect();
        assert!(ms.is_empty(), "still mounted: {ms:?}");
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Containers podman still knows about have pid files in their
        // userdata dirs (removed by `podman rm` in the success path).
        super::util::kill_pidfiles_under(self.dir.path(), self.started_ticks);
        let io = self.io_dir.clone();
        let _ = try_run_cmd(
            &mut self.cmd(&["rm", "--all", "--force", "--time", "0"]),
            &io,
            Duration::from_secs(30),
        );
        // Anything left in our cgroup parent (containers, conmon) dies.
        destroy_cgroup_tree(&self.cgroup_parent);
        // conmon / podman cleanup processes reference our storage paths.
        kill_cmdline_matching(&self.dir.path().to_string_lossy());
        destroy_cgroup_tree(&self.cgroup_parent);
        unmount_under(self.dir.path());
    }
}
