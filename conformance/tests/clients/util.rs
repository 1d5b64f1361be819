//! Process, temp-dir, mount and cgroup helpers shared by the client tests.
//!
//! Everything here is written so that it can be called from `Drop` without
//! panicking: cleanup helpers ignore errors and never block without a bound.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Default bound for a single client command (ctr / podman invocation).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name that is unique across parallel tests in this process and across
/// concurrently running test processes: `<prefix>-<pid>-<n>-<nanos hex>`.
/// Only `[a-z0-9-]`, short enough for containerd namespaces and unix socket
/// paths.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos & 0xfffff)
}

/// A directory under the system temp dir, removed (after lazily unmounting
/// anything mounted below it) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(prefix));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).ok();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join<P: AsRef<Path>>(&self, p: P) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("HULL_CLIENTS_KEEP").is_some() {
            eprintln!("HULL_CLIENTS_KEEP set: keeping {}", self.path.display());
            return;
        }
        unmount_under(&self.path);
        if fs::remove_dir_all(&self.path).is_err() {
            std::thread::sleep(Duration::from_millis(200));
            unmount_under(&self.path);
            if let Err(e) = fs::remove_dir_all(&self.path) {
                eprintln!("warning: cannot remove {}: {e}", self.path.display());
            }
        }
    }
}

/// Result of a finished client command.
pub struct Output {
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Exit code, or 128+signal when the command was killed by a signal.
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            _ => -1,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {} (after {:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline,
            self.code(),
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }

    /// Panics with the full command description unless the exit code is 0.
    pub fn ok(self) -> Output {
        assert_eq!(self.code(), 0, "command failed\n{}", self.describe());
        self
    }

    /// Panics unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Output {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit status\n{}",
            self.describe()
        );
        self
    }

    /// stdout with `\r` removed (tty output) and trimmed.
    pub fn out(&self) -> String {
        self.stdout.replace('\r', "").trim().to_string()
    }

    /// stdout lines with `\r` and NULs removed, trimmed, empty lines dropped.
    pub fn lines(&self) -> Vec<String> {
        self.stdout
            .replace(['\r', '\0'], "")
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// A /bin/sh-quoted rendering of `cmd` (program and args, not env).
pub fn render(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&sh_quote(&a.to_string_lossy()));
    }
    s
}

/// Quote for /bin/sh (used for `script -c` command lines and diagnostics).
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A spawned command whose stdout/stderr go to files (never pipes: daemons
/// such as conmon or containerd shims may inherit and keep pipes open
/// forever). Killed with its whole process group if dropped unwaited.
pub struct Bg {
    child: Option<Child>,
    cmdline: String,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
}

impl Bg {
    pub fn spawn(cmd: &mut Command, io_dir: &Path) -> Bg {
        fs::create_dir_all(io_dir).ok();
        let tag = unique("io");
        let out = io_dir.join(format!("{tag}.out"));
        let err = io_dir.join(format!("{tag}.err"));
        let cmdline = render(cmd);
        let fo = fs::File::create(&out).expect("create stdout file");
        let fe = fs::File::create(&err).expect("create stderr file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(fo))
            .stderr(Stdio::from(fe))
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {cmdline}: {e}"));
        Bg {
            child: Some(child),
            cmdline,
            out,
            err,
            started: Instant::now(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(-1)
    }

    /// Returns `Some(Output)` if the process exited within `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Output> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            let child = self.child.as_mut()?;
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Some(self.collect(status));
                }
                Ok(None) => {}
                Err(e) => panic!("wait {}: {e}", self.cmdline),
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(25));
        }
    }

    /// Waits up to `timeout`; on timeout kills the process group and panics
    /// with whatever output there was.
    pub fn wait(mut self, timeout: Duration) -> Output {
        if let Some(o) = self.wait_timeout(timeout) {
            return o;
        }
        let status = self.kill();
        let partial = status.map(|s| self.collect(s));
        panic!(
            "timed out after {timeout:?}: {}\n{}",
            self.cmdline,
            partial.map(|o| o.describe()).unwrap_or_default()
        );
    }

    fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id() as i32;
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGKILL);
        }
        child.wait().ok()
    }

    fn collect(&self, status: ExitStatus) -> Output {
        Output {
            cmdline: self.cmdline.clone(),
            status,
            stdout: String::from_utf8_lossy(&fs::read(&self.out).unwrap_or_default()).into_owned(),
            stderr: String::from_utf8_lossy(&fs::read(&self.err).unwrap_or_default()).into_owned(),
            elapsed: self.started.elapsed(),
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        self.kill();
        fs::remove_file(&self.out).ok();
        fs::remove_file(&self.err).ok();
    }
}

/// Runs `cmd` to completion with a timeout (panics on timeout).
pub fn run_cmd(cmd: &mut Command, io_dir: &Path, timeout: Duration) -> Output {
    Bg::spawn(cmd, io_dir).wait(timeout)
}

/// Like `run_cmd` but never panics (for Drop paths): returns None on spawn
/// failure or timeout.
pub fn try_run_cmd(cmd: &mut Command, io_dir: &Path, timeout: Duration) -> Option<Output> {
    let cmdline = render(cmd);
    fs::create_dir_all(io_dir).ok();
    let tag = unique("io");
    let out = io_dir.join(format!("{tag}.out"));
    let err = io_dir.join(format!("{tag}.err"));
    let fo = fs::File::create(&out).ok()?;
    let fe = fs::File::create(&err).ok()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(fo))
        .stderr(Stdio::from(fe))
        .process_group(0);
    let child = cmd.spawn().ok()?;
    let mut bg = Bg {
        child: Some(child),
        cmdline,
        out,
        err,
        started: Instant::now(),
    };
    let r = bg.wait_timeout(timeout);
    if r.is_none() {
        eprintln!("warning: cleanup command timed out: {}", bg.cmdline);
    }
    r
}

/// Polls `f` until it returns `Some`, or panics after `timeout` with `what`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The runtime binary under test: `$HULL_BIN`, else the most recently
/// modified of `<workspace>/target/{release,debug}/hull` (also looking in
/// `$CARGO_TARGET_DIR`). Always absolute.
pub fn hull_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HULL_BIN") {
        let p = PathBuf::from(p);
        return fs::canonicalize(&p).unwrap_or_else(|e| panic!("HULL_BIN={}: {e}", p.display()));
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace dir")
        .to_path_buf();
    let mut targets = vec![ws.join("target")];
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        targets.push(if t.is_absolute() { t } else { ws.join(t) });
    }
    let best = targets
        .iter()
        .flat_map(|t| [t.join("release/hull"), t.join("debug/hull")])
        .filter_map(|p| {
            let m = fs::metadata(&p).ok()?.modified().ok()?;
            Some((m, p))
        })
        .max_by_key(|(m, _)| *m);
    match best {
        Some((_, p)) => fs::canonicalize(&p).unwrap_or(p),
        None => panic!(
            "no runtime binary: set HULL_BIN or build hull (looked in {:?})",
            targets
        ),
    }
}

/// The runtime path to hand to a client. Normally `hull_bin()`. When
/// `HULL_CLIENTS_TRACE=<file>` is set, a wrapper script in `dir` is returned
/// instead: it appends the runtime's argv (one invocation per line) to that
/// file and then execs the real runtime. With `HULL_CLIENTS_TRACE_ENV=<file>`
/// also, each invocation's cwd and environment are appended there.
pub fn runtime_for(dir: &Path) -> PathBuf {
    let real = hull_bin();
    let Some(trace) = std::env::var_os("HULL_CLIENTS_TRACE") else {
        return real;
    };
    let wrapper = dir.join("runtime-trace.sh");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\n{}exec {} \"$@\"\n",
        sh_quote(&Path::new(&trace).to_string_lossy()),
        match std::env::var_os("HULL_CLIENTS_TRACE_ENV") {
            Some(f) => format!(
                "{{ echo \"== $* (cwd=$PWD)\"; env; }} >> {}\n",
                sh_quote(&Path::new(&f).to_string_lossy())
            ),
            None => String::new(),
        },
        sh_quote(&real.to_string_lossy())
    );
    fs::write(&wrapper, script).expect("write trace wrapper");
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod wrapper");
    wrapper
}

/// Panics with a clear message unless running as root.
pub fn require_root() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the client tests must run as root (containerd, podman, cgroups, mounts)"
    );
}

/// Panics with a clear message if `prog` is not on PATH.
pub fn require_tool(prog: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "required tool `{prog}` is not installed (not on PATH)"
    );
}

// Mount helpers are the harness's own.
pub use hull_conformance::{mounts_under, unmount_all_under as unmount_under};

/// Pids whose command line mentions `needle` (excluding this process).
pub fn pids_with_cmdline(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut v = vec![];
    let Ok(rd) = fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(c) = fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(needle) {
                v.push(pid);
            }
        }
    }
    v
}

/// Filesystem paths of the unix sockets process `pid` has open (found via
/// its fd inodes and /proc/net/unix).
pub fn unix_socket_paths_of(pid: i32) -> Vec<PathBuf> {
    let mut inodes = std::collections::HashSet::new();
    if let Ok(rd) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            if let Ok(t) = fs::read_link(e.path()) {
                let t = t.to_string_lossy().into_owned();
                if let Some(i) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                    inodes.insert(i.to_string());
                }
            }
        }
    }
    let table = fs::read_to_string(format!("/proc/{pid}/net/unix")).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8 && inodes.contains(f[6]) && f[7].starts_with('/'))
                .then(|| PathBuf::from(f[7]))
        })
        .collect()
}

pub fn pid_alive(pid: i32) -> bool {
    // A zombie still has a /proc entry; treat it as dead.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !matches!(
            s.rsplit(") ").next().and_then(|r| r.chars().next()),
            Some('Z') | Some('X')
        ),
        Err(_) => false,
    }
}

/// SIGKILLs every process whose cmdline mentions `needle`, waiting up to 2 s
/// for them to go away.
pub fn kill_cmdline_matching(needle: &str) {
    let pids = pids_with_cmdline(needle);
    for &p in &pids {
        unsafe {
            libc::kill(p, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|&p| pid_alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Time since boot in clock ticks (the unit of /proc/<pid>/stat starttime).
pub fn boot_ticks() -> u64 {
    let up: f64 = fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (up * hz) as u64
}

fn proc_start_ticks(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after "(comm) ": state is field 3, starttime is field 22.
    s.rsplit_once(") ")?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Safety net against runtimes that leak processes outside the cgroups we
/// clean up: SIGKILLs the processes named by pid files below `dir`
/// (`*.pid`, `pidfile`, `exec_pid`) that are alive and were started after
/// `since` (boot ticks), which guards against pid reuse.
pub fn kill_pidfiles_under(dir: &Path, since: u64) {
    let mut files = vec![];
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            if ft.is_dir() && depth < 8 && name != "rootfs" && name != "merged" && name != "diff" {
                stack.push((e.path(), depth + 1));
            } else if ft.is_file()
                && (name.ends_with(".pid") || name == "pidfile" || name == "exec_pid")
            {
                files.push(e.path());
            }
        }
    }
    let me = std::process::id() as i32;
    for f in files {
        let Some(pid) = fs::read_to_string(&f)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        else {
            continue;
        };
        if pid <= 1 || pid == me || !pid_alive(pid) {
            continue;
        }
        if proc_start_ticks(pid).map(|t| t >= since).unwrap_or(false) {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// All cgroup directories (v1 controllers and the unified mount) for the
/// relative cgroup path `rel` (e.g. "hull-ns-123/ctr").
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let rel = rel.trim_start_matches('/');
    let mut v = vec![];
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let p = e.path().join(rel);
            if p.is_dir() {
                v.push(p);
            }
        }
    }
    // A pure cgroup2 host has /sys/fs/cgroup itself as the hierarchy.
    let p = Path::new("/sys/fs/cgroup").join(rel);
    if p.join("cgroup.procs").exists() && !v.contains(&p) {
        v.push(p);
    }
    v
}

fn walk_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk_dirs(&e.path(), out);
            }
        }
    }
    out.push(dir.to_path_buf());
}

/// Kills every process in the cgroup subtree `rel` (all hierarchies) and
/// removes the cgroup directories, deepest first. Best effort, bounded.
pub fn destroy_cgroup_tree(rel: &str) {
    if rel.trim_matches('/').is_empty() {
        return; // never touch the root
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut dirs = vec![];
        for top in cgroup_dirs(rel) {
            walk_dirs(&top, &mut dirs);
        }
        if dirs.is_empty() {
            return;
        }
        for d in &dirs {
            if let Ok(procs) = fs::read_to_string(d.join("cgroup.procs")) {
                for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    unsafe {
                        libc::kill(p, libc::SIGKILL);
                    }
                }
            }
            // A frozen v1 cgroup must be thawed for SIGKILL to be delivered.
            let fz = d.join("freezer.state");
            if fz.exists() {
                fs::write(&fz, "THAWED").ok();
            }
        }
        let mut all_gone = true;
        for d in &dirs {
            if fs::remove_dir(d).is_err() && d.exists() {
                all_gone = false;
            }
        }
        if all_gone {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("warning: cannot remove cgroup tree {rel}");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True if `p` exists (without following a final symlink).
pub fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// Wraps `cmd` in `script -qec <cmd> /dev/null` so that it runs with a
/// pseudo-terminal as its stdin/stdout (ctr -t and podman -t need one).
/// `script -e` exits with the wrapped command's status. Env set on `cmd` is
/// carried over.
pub fn under_tty(cmd: &Command) -> Command {
    require_tool("script");
    let mut s = Command::new("script");
    s.arg("-qec").arg(render(cmd)).arg("/dev/null");
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    s
}

/// Prints how long a test took (visible with `--nocapture`).
pub struct Timer(&'static str, Instant);

impl Timer {
    pub fn new(name: &'static str) -> Timer {
        Timer(name, Instant::now())
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        eprintln!("[timing] {}: {:?}", self.0, self.1.elapsed());
    }
}

/// The value of `key:` in a /proc/<pid>/status text (the harness parser, here for the client
/// tests' imports).
#[allow(unused_imports)]
pub use hull_conformance::status_field;

/// Asserts a cgroup limit for the container cgroup `rel`: the v1 file
/// `<controller>/<rel>/<v1_file>` on v1/hybrid hosts, else the unified
/// `<rel>/<v2_file>`.
pub fn assert_cgroup_value(rel: &str, controller: &str, v1: (&str, &str), v2: (&str, &str)) {
    let v1_root = std::path::Path::new("/sys/fs/cgroup").join(controller);
    let (path, want) = if v1_root.is_dir() {
        (v1_root.join(rel).join(v1.0), v1.1)
    } else {
        (
            std::path::Path::new("/sys/fs/cgroup").join(rel).join(v2.0),
            v2.1,
        )
    };
    let got = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(got.trim(), want, "{}", path.display());
}
