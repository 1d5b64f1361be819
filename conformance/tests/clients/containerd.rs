//! A private containerd daemon per test (starts in ~0.1 s here), driven with
//! `ctr`, running containers through the runc shim v2 with
//! `--runc-binary <runtime under test>`.
//!
//! Isolation: own root/state/socket dirs under a unique temp dir, a unique
//! containerd namespace (so the shim's runtime root
//! `/run/containerd/runc/<ns>` and the cgroups `/<ns>/<id>` are unique too)
//! and a private FIFO dir. Drop tears everything down even after a failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::image;
use super::util::{
    destroy_cgroup_tree, exists, kill_cmdline_matching, require_tool, run_cmd, runtime_for,
    try_run_cmd, unique, unmount_under, wait_for, Bg, Output, TempDir, CMD_TIMEOUT,
};

/// Image reference of the imported busybox image.
pub const IMAGE_REF: &str = "hull.test/busybox:bb";

pub struct Containerd {
    pub sock: PathBuf,
    pub ns: String,
    pub runtime: PathBuf,
    pub fifo_dir: PathBuf,
    io_dir: PathBuf,
    child: Option<Child>,
    started_ticks: u64,
    /// The runtime `--root` of this daemon's containers (see `runtime_root`).
    runtime_root: PathBuf,
    /// The namespace is ours alone: Drop may kill its cgroup tree `/<ns>`.
    owns_namespace: bool,
    // Dropped last (fields drop in declaration order, after Drop::drop).
    dir: TempDir,
}

/// How to start a daemon: `Containerd::start_with`.
pub struct Setup<'a> {
    /// config.toml text from (the daemon's private dir, the runtime path under test).
    pub config: &'a dyn Fn(&Path, &Path) -> String,
    /// The ctr namespace; None = a unique one, whose cgroup tree `/<ns>` Drop removes.
    pub namespace: Option<&'a str>,
    /// The runtime `--root` of the containers, relative to the private dir, when the config
    /// sets one (a runtime handler's `Root`); None = the shim's `/run/containerd/runc/<ns>`.
    pub runtime_root: Option<&'a str>,
}

/// Plugins containerd 1.6's ctr tests do not load (CRI; what this host cannot run).
const V2_DISABLED_PLUGINS: &str = r#"
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
"#;

/// containerd 1.6's config (version 2): no CRI, private root/state/sockets under `d`.
fn config_v2(d: &Path, _runtime: &Path) -> String {
    config_base(2, d, V2_DISABLED_PLUGINS)
}

/// The part of a containerd config (schema `version` 2 or 3) every private daemon has: root,
/// state, sockets and opt dir under `d`, without `disabled_plugins` (a TOML array body).
pub fn config_base(version: u32, d: &Path, disabled_plugins: &str) -> String {
    format!(
        r#"version = {version}
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{disabled_plugins}]

[grpc]
  address = "{d}/c.sock"

[ttrpc]
  address = "{d}/c.sock.ttrpc"

[debug]
  address = "{d}/debug.sock"

[plugins.'io.containerd.internal.v1.opt']
  path = "{d}/opt"
"#,
        d = d.display()
    )
}

/// One row of `ctr task ls`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub id: String,
    pub pid: i32,
    pub status: String,
}

impl Containerd {
    /// containerd 1.6 with the CRI plugin off, in a unique namespace.
    pub fn start() -> Containerd {
        Self::start_with(&Setup {
            config: &config_v2,
            namespace: None,
            runtime_root: None,
        })
    }

    /// A daemon whose config.toml is `setup.config(<its private dir>, <runtime path>)`; the
    /// config must put `grpc.address` at `<dir>/c.sock` and root/state under `<dir>`.
    pub fn start_with(setup: &Setup) -> Containerd {
        for t in ["containerd", "ctr", "containerd-shim-runc-v2"] {
            require_tool(t);
        }
        super::util::require_root();
        let dir = TempDir::new("hull-ctd");
        let d = dir.path().to_path_buf();
        let sock = d.join("c.sock");
        let ns = setup
            .namespace
            .map(str::to_string)
            .unwrap_or_else(|| unique("hull"));
        let runtime_root = match &setup.runtime_root {
            Some(sub) => d.join(sub),
            None => Path::new("/run/containerd/runc").join(&ns),
        };
        let mut me = Containerd {
            sock: sock.clone(),
            owns_namespace: setup.namespace.is_none(),
            ns,
            runtime: runtime_for(dir.path()),
            fifo_dir: d.join("fifo"),
            io_dir: d.join("io"),
            child: None,
            started_ticks: super::util::boot_ticks().saturating_sub(100),
            runtime_root,
            dir,
        };
        fs::create_dir_all(&me.fifo_dir).expect("mkdir fifo");
        let cfg = d.join("config.toml");
        fs::write(&cfg, (setup.config)(&d, &me.runtime)).expect("write containerd config");
        let log = fs::File::create(d.join("containerd.log")).expect("containerd log");
        let log2 = log.try_clone().expect("dup log");
        let t0 = Instant::now();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .expect("spawn containerd");
        me.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("containerd exited early ({st}); log:\n{}", me.log_tail());
            }
            if sock.exists() {
                let o = me.ctr_try(&["version"], Duration::from_secs(5));
                if o.as_ref().map(|o| o.code() == 0).unwrap_or(false) {
                    break;
                }
            }
            if Instant::now() > deadline {
                panic!("containerd did not come up in 15s; log:\n{}", me.log_tail());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if std::env::var_os("HULL_CLIENTS_VERBOSE").is_some() {
            eprintln!("containerd up in {:?} (ns {})", t0.elapsed(), me.ns);
        }
        me
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_tail(&self) -> String {
        let s = fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `ctr -a <sock> -n <ns>` with the given args.
    pub fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a")
            .arg(&self.sock)
            .arg("-n")
            .arg(&self.ns)
            .args(args);
        c
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        run_cmd(&mut self.ctr_cmd(args), &self.io_dir, CMD_TIMEOUT)
    }

    fn ctr_try(&self, args: &[&str], t: Duration) -> Option<Output> {
        try_run_cmd(&mut self.ctr_cmd(args), &self.io_dir, t)
    }

    /// Spawns a command in the background with output captured to files.
    pub fn spawn(&self, mut cmd: Command) -> Bg {
        Bg::spawn(&mut cmd, &self.io_dir)
    }

    /// Imports the per-process busybox OCI archive; returns its reference.
    pub fn import_busybox(&self) -> &'static str {
        let img = image::busybox();
        let archive = img.oci_archive.to_string_lossy().into_owned();
        let o = self
            .ctr(&[
                "images",
                "import",
                "--base-name",
                "hull.test/busybox",
                &archive,
            ])
            .ok();
        assert!(
            o.stdout.contains("hull.test/busybox:bb") || o.stderr.contains("hull.test/busybox:bb"),
            "import did not name the image\n{}",
            o.describe()
        );
        IMAGE_REF
    }

    /// Argument prefix for `ctr run` using the runtime under test.
    pub fn run_args(&self) -> Vec<String> {
        vec![
            "run".into(),
            "--runc-binary".into(),
            self.runtime.to_string_lossy().into_owned(),
            "--fifo-dir".into(),
            self.fifo_dir.to_string_lossy().into_owned(),
        ]
    }

    /// `ctr run --runc-binary <rt> --fifo-dir <d> <extra...>`.
    pub fn run_cmd(&self, extra: &[&str]) -> Command {
        let mut a = self.run_args();
        a.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        self.ctr_cmd(&a)
    }

    /// Runs `ctr run ... <extra>` to completion.
    pub fn run(&self, extra: &[&str]) -> Output {
        run_cmd(&mut self.run_cmd(extra), &self.io_dir, CMD_TIMEOUT)
    }

    /// `ctr task exec --fifo-dir <ours> --exec-id <exec_id> <id> <cmd...>` to completion.
    pub fn task_exec(&self, id: &str, exec_id: &str, cmd: &[&str]) -> Output {
        let fifo = self.fifo_dir.to_string_lossy().into_owned();
        let mut a = vec![
            "task",
            "exec",
            "--fifo-dir",
            &fifo,
            "--exec-id",
            exec_id,
            id,
        ];
        a.extend_from_slice(cmd);
        self.ctr(&a)
    }

    /// Runs an arbitrary prepared command (e.g. wrapped in `under_tty`).
    pub fn exec(&self, mut cmd: Command) -> Output {
        run_cmd(&mut cmd, &self.io_dir, CMD_TIMEOUT)
    }

    pub fn tasks(&self) -> Vec<TaskRow> {
        let o = self.ctr(&["task", "ls"]).ok();
        o.stdout
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() < 3 {
                    return None;
                }
                Some(TaskRow {
                    id: f[0].to_string(),
                    pid: f[1].parse().ok()?,
                    status: f[2].to_string(),
                })
            })
            .collect()
    }

    pub fn task(&self, id: &str) -> Option<TaskRow> {
        self.tasks().into_iter().find(|t| t.id == id)
    }

    /// Waits until task `id` reports `status` (e.g. "RUNNING", "STOPPED").
    pub fn wait_task_status(&self, id: &str, status: &str, timeout: Duration) -> TaskRow {
        wait_for(timeout, &format!("task {id} to be {status}"), || {
            self.task(id).filter(|t| t.status == status)
        })
    }

    pub fn containers(&self) -> Vec<String> {
        let o = self.ctr(&["containers", "ls", "-q"]).ok();
        o.stdout
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// The runtime `--root` the runc shim passes for our containers.
    pub fn runtime_root(&self) -> PathBuf {
        self.runtime_root.clone()
    }

    /// The cgroup path ctr asks for by default: `/<ns>/<id>`.
    pub fn cgroup_rel(&self, id: &str) -> String {
        format!("{}/{}", self.ns, id)
    }

    /// Asserts that nothing is left of container `id`: not known to
    /// containerd, no runtime state dir, no cgroup, rootfs unmounted.
    pub fn assert_gone(&self, id: &str) {
        assert!(
            !self.containers().iter().any(|c| c == id),
            "container {id} still listed by containerd"
        );
        assert!(self.task(id).is_none(), "task {id} still listed");
        let state = self.runtime_root().join(id);
        // containerd's cleanup is synchronous with `ctr` returning, but the
        // runtime's `delete` may race with the shim exiting: allow a moment.
        wait_for(
            Duration::from_secs(5),
            &format!("{} removed", state.display()),
            || (!exists(&state)).then_some(()),
        );
        let rel = self.cgroup_rel(id);
        wait_for(
            Duration::from_secs(5),
            &format!("cgroup {rel} removed"),
            || super::util::cgroup_dirs(&rel).is_empty().then_some(()),
        );
        let bundle = self
            .dir()
            .join("state/io.containerd.runtime.v2.task")
            .join(&self.ns)
            .join(id);
        let mounted = super::util::mounts_under(&bundle);
        assert!(mounted.is_empty(), "still mounted: {mounted:?}");
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Container processes still recorded in bundle pid files die first
        // (in the success path the bundles are already gone).
        super::util::kill_pidfiles_under(&self.dir.join("state"), self.started_ticks);
        let short = Duration::from_secs(10);
        let alive = self
            .child
            .as_mut()
            .map(|c| matches!(c.try_wait(), Ok(None)))
            .unwrap_or(false);
        if alive {
            // Graceful: force-delete remaining tasks and containers.
            // An unresponsive daemon is not waited for again and again.
            let responsive = match self.ctr_try(&["task", "ls", "-q"], short) {
                Some(o) => {
                    for id in o.stdout.split_whitespace() {
                        self.ctr_try(&["task", "delete", "-f", id], short);
                    }
                    true
                }
                None => false,
            };
            if let Some(o) = responsive
                .then(|| self.ctr_try(&["containers", "ls", "-q"], short))
                .flatten()
            {
                for id in o.stdout.split_whitespace() {
                    self.ctr_try(&["containers", "delete", id], short);
                }
            }
        }
        // Anything still running in our namespace's cgroups dies now.
        if self.owns_namespace {
            destroy_cgroup_tree(&self.ns);
        }
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match c.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        // Leftover shims (their cmdline carries our socket path). A killed
        // shim leaves its socket in /run/containerd/s: remove it too.
        let needle = self.dir.path().to_string_lossy().into_owned();
        let shim_socks: Vec<PathBuf> = super::util::pids_with_cmdline(&needle)
            .into_iter()
            .flat_map(super::util::unix_socket_paths_of)
            .filter(|p| p.starts_with("/run/containerd/s/"))
            .collect();
        kill_cmdline_matching(&needle);
        for s in shim_socks {
            let _ = fs::remove_file(s);
        }
        if self.owns_namespace {
            destroy_cgroup_tree(&self.ns);
        }
        unmount_under(self.dir.path());
        let root = self.runtime_root();
        unmount_under(&root);
        let _ = fs::remove_dir_all(&root);
        // self.dir (TempDir) is dropped after this, removing the directory.
    }
}
