//! Conformance harness for hull.
//!
//! The integration tests under `conformance/tests/` drive the runtime binary
//! as a separate process, the way containerd's runc shim and runtime-tools do.
//! The binary is chosen by [`hull_bin`]: `HULL_BIN` if set (e.g.
//! `HULL_BIN=/usr/sbin/runc` to validate the tests against runc), else the
//! most recently built `target/{release,debug}/hull` of this workspace.
//!
//! Everything created here (state roots, bundles, containers, cgroups) has a
//! unique name and is cleaned up by `Drop` guards, so tests can run in
//! parallel and clean up even when they panic. Every wait has a timeout.

use serde_json::{json, Value};
use std::ffi::CString;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::symlink;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Default timeout for one invocation of the runtime binary (stretched by `budget`).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

/// A wall-clock budget for something a test times, stretched by `HULL_TEST_SLOW` (an integer
/// factor; the pure cgroup v2 VM sets it because it runs under emulation).
pub fn budget(base: Duration) -> Duration {
    let f = std::env::var("HULL_TEST_SLOW")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    base * f
}

/// Base directory of the per-runtime state roots.
pub const STATE_BASE: &str = "/run/hull-conf";

/// Base directory of the temporary bundles.
pub const BUNDLE_BASE: &str = "/tmp/hull-conf";

/// The v1 cgroup hierarchies mounted on this host (see PROJECT.md).
pub const CGROUP_V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
];

// ---------------------------------------------------------------------------
// Binary selection and ids
// ---------------------------------------------------------------------------

/// The workspace directory (parent of this crate).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("conformance crate has a parent directory")
        .to_path_buf()
}

/// The runtime binary under test.
///
/// `HULL_BIN` if set; otherwise whichever of `<workspace>/target/release/hull`,
/// `<workspace>/target/debug/hull` and the static release build
/// `<workspace>/target/<triple>/release/hull` exists and was modified most recently
/// (`CARGO_TARGET_DIR` is honoured too if set).
pub fn hull_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(b) = std::env::var_os("HULL_BIN") {
            let p = PathBuf::from(b);
            assert!(p.exists(), "HULL_BIN={} does not exist", p.display());
            return p;
        }
        let mut targets = vec![workspace_dir().join("target")];
        if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
            targets.insert(0, PathBuf::from(t));
        }
        let mut best: Option<(SystemTime, PathBuf)> = None;
        for t in &targets {
            // the static release build (scripts/build-release.sh) lives under the host triple
            let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
            for profile in ["release", "debug", &format!("{triple}/release")] {
                let p = t.join(profile).join("hull");
                if let Ok(m) = fs::metadata(&p) {
                    let mtime = m.modified().unwrap_or(UNIX_EPOCH);
                    if best.as_ref().is_none_or(|(bt, _)| mtime > *bt) {
                        best = Some((mtime, p));
                    }
                }
            }
        }
        match best {
            Some((_, p)) => p,
            None => panic!(
                "no hull binary found: build it (`cargo build --release`) so that \
                 {}/target/{{release,debug}}/hull exists, or set HULL_BIN=/path/to/runtime",
                workspace_dir().display()
            ),
        }
    })
    .clone()
}

/// True when the binary under test is runc (used to annotate known runc deviations).
pub fn is_runc() -> bool {
    hull_bin()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("runc"))
}

fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    if let Ok(mut f) = File::open("/dev/urandom") {
        if f.read_exact(&mut buf).is_ok() {
            return u32::from_ne_bytes(buf);
        }
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// A name unique across parallel tests and processes: `prefix-<pid>-<n>-<rand>`.
/// Only uses `[a-z0-9-]` after the prefix, valid for container ids and cgroup names.
pub fn unique_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!(
        "{}-{}-{}-{:06x}",
        prefix,
        std::process::id(),
        n,
        random_u32() & 0xff_ffff
    )
}

// ---------------------------------------------------------------------------
// Running processes with timeouts
// ---------------------------------------------------------------------------

fn tmp_capture_file(tag: &str) -> PathBuf {
    let dir = Path::new(BUNDLE_BASE).join("io");
    fs::create_dir_all(&dir).expect("create capture dir");
    dir.join(format!("{}-{}", unique_id("cap"), tag))
}

/// Run `cmd` with stdin null and stdout/stderr redirected to temporary files
/// (never pipes: a container created by the command may inherit them and keep
/// them open forever). Waits at most `timeout`; on timeout the command's
/// process group is killed and this panics.
pub fn output_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let out_p = tmp_capture_file("out");
    let err_p = tmp_capture_file("err");
    let out_f = File::create(&out_p).expect("create stdout capture");
    let err_f = File::create(&err_p).expect("create stderr capture");
    cmd.stdin(Stdio::null()).stdout(out_f).stderr(err_f);
    let desc = format!("{:?}", cmd);
    let status = match cmd.spawn() {
        Ok(mut child) => wait_child(&mut child, timeout, &desc),
        Err(e) => {
            let _ = fs::remove_file(&out_p);
            let _ = fs::remove_file(&err_p);
            panic!("cannot spawn {desc}: {e}");
        }
    };
    let stdout = fs::read(&out_p).unwrap_or_default();
    let stderr = fs::read(&err_p).unwrap_or_default();
    let _ = fs::remove_file(&out_p);
    let _ = fs::remove_file(&err_p);
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Wait for `child` at most `timeout`; kill it and panic on timeout.
pub fn wait_child(child: &mut std::process::Child, timeout: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    let mut sleep = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st,
            Ok(None) => {}
            Err(e) => panic!("wait for {what}: {e}"),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timeout after {timeout:?}: {what}");
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(20));
    }
}

/// Exit code of a process as a shell would report it: the code, or 128+signal.
pub fn exit_code(st: &ExitStatus) -> i32 {
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// Lossy UTF-8 of stdout.
pub fn stdout_str(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Lossy UTF-8 of stderr.
pub fn stderr_str(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Human-readable summary of an Output for assertion messages.
pub fn describe(o: &Output) -> String {
    format!(
        "status={:?} stdout={:?} stderr={:?}",
        o.status,
        stdout_str(o),
        stderr_str(o)
    )
}

/// Assert success, with the output in the panic message.
#[track_caller]
pub fn assert_ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what} failed: {}", describe(o));
}

/// Assert the command failed with exit code 1 (runc's error exit code).
#[track_caller]
pub fn assert_fail1(o: &Output, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{what}: expected exit code 1: {}",
        describe(o)
    );
}

// ---------------------------------------------------------------------------
// Runtime (state root)
// ---------------------------------------------------------------------------

/// A runtime invocation context with its own unique `--root` state directory.
/// Drop force-deletes every container left in the root and removes the root.
pub struct Runtime {
    pub root: PathBuf,
    pub bin: PathBuf,
}

impl Runtime {
    pub fn new() -> Runtime {
        let root = Path::new(STATE_BASE).join(unique_id("root"));
        fs::create_dir_all(&root).expect("create state root");
        Runtime {
            root,
            bin: hull_bin(),
        }
    }

    /// A command for the runtime with `--root <root>` prepended.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// A command for the runtime without `--root` (for `--version`, `spec`, ...).
    pub fn bare_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args);
        c
    }

    /// Run with stdin null, capture stdout/stderr, 30 s timeout.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_timeout(args, budget(CMD_TIMEOUT))
    }

    pub fn run_timeout(&self, args: &[&str], timeout: Duration) -> Output {
        output_with_timeout(&mut self.cmd(args), timeout)
    }

    /// Run with stdin null, capture output, 30 s timeout; panics unless it succeeds.
    #[track_caller]
    pub fn run_ok(&self, args: &[&str]) -> Output {
        let o = self.run(args);
        assert_ok(&o, &format!("{:?}", args));
        o
    }

    /// `<root>/<id>`
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Container ids that have a state dir in the root.
    pub fn ids_in_root(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Ok(rd) = fs::read_dir(&self.root) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    v.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        v
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids_in_root() {
            let mut c = self.cmd(&["delete", "--force", &id]);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                output_with_timeout(&mut c, Duration::from_secs(15))
            }));
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

// ---------------------------------------------------------------------------
// Bundle
// ---------------------------------------------------------------------------

/// runc's default spec (`runc spec` of runc 1.1), as a literal.
pub fn runc_default_spec() -> Value {
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [
                { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }
            ],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "runc",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "resources": {
                "devices": [ { "allow": false, "access": "rwm" } ]
            },
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// The harness' default config: runc's default spec with `terminal=false`
/// and args `["sh"]`.
pub fn default_config() -> Value {
    let mut v = runc_default_spec();
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(["sh"]);
    v
}

/// Applet paths of the host busybox (`busybox --list-full`), computed once per process.
fn busybox_applets() -> &'static Vec<String> {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = Command::new("/bin/busybox")
            .arg("--list-full")
            .stdin(Stdio::null())
            .output()
            .expect("run /bin/busybox --list-full (install busybox-static)");
        assert!(out.status.success(), "busybox --list-full failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().trim_start_matches('/').to_string())
            .filter(|l| !l.is_empty())
            .collect()
    })
}

pub const ETC_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
user:x:1000:1000:test user:/home/user:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

pub const ETC_GROUP: &str = "root:x:0:\n\
tty:x:5:\n\
user:x:1000:\n\
extra:x:2000:user\n\
nogroup:x:65534:\n";

/// Populate `rootfs` with a busybox rootfs.
pub fn make_busybox_rootfs(rootfs: &Path) {
    for d in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/user",
        "var",
        "run",
    ] {
        fs::create_dir_all(rootfs.join(d)).expect("mkdir in rootfs");
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy /bin/busybox");
    for a in busybox_applets() {
        if a == "bin/busybox" {
            continue;
        }
        let p = rootfs.join(a);
        if let Some(parent) = p.parent() {
            let _ = fs::create_dir_all(parent);
        }
        let _ = symlink("/bin/busybox", &p);
    }
    fs::write(rootfs.join("etc/passwd"), ETC_PASSWD).unwrap();
    fs::write(rootfs.join("etc/group"), ETC_GROUP).unwrap();
    fs::write(rootfs.join("etc/hostname"), "hull\n").unwrap();
    fs::write(rootfs.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    let _ = fs::set_permissions(
        rootfs.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    );
    let _ = std::os::unix::fs::chown(rootfs.join("home/user"), Some(1000), Some(1000));
}

/// An OCI bundle in a temporary directory. Drop unmounts anything left under
/// it (best effort), removes the cgroups set with [`Bundle::set_cgroups_path`]
/// if empty, and removes the directory.
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
    cgroups_paths: Vec<String>,
}

impl Bundle {
    /// An empty bundle directory (no rootfs, no config.json written).
    pub fn empty() -> Bundle {
        let dir = Path::new(BUNDLE_BASE).join(unique_id("bundle"));
        fs::create_dir_all(&dir).expect("create bundle dir");
        Bundle {
            dir,
            config: default_config(),
            cgroups_paths: Vec::new(),
        }
    }

    /// A bundle with a busybox rootfs and the default config saved.
    pub fn busybox() -> Bundle {
        let b = Bundle::empty();
        make_busybox_rootfs(&b.rootfs());
        b.save();
        b
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn dir_str(&self) -> &str {
        self.dir.to_str().expect("utf-8 bundle path")
    }

    /// Set `process.args` (call [`Bundle::save`] afterwards).
    pub fn set_args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// Set `root.readonly` (the default spec has a read-only rootfs).
    pub fn set_readonly(&mut self, ro: bool) -> &mut Self {
        self.config["root"]["readonly"] = json!(ro);
        self
    }

    /// Add `KEY=VALUE` to `process.env`.
    pub fn add_env(&mut self, kv: &str) -> &mut Self {
        self.config["process"]["env"]
            .as_array_mut()
            .expect("process.env array")
            .push(json!(kv));
        self
    }

    /// Set `linux.cgroupsPath`; the path is remembered and its directories in
    /// every v1 hierarchy are rmdir'ed (if empty) when the bundle is dropped.
    pub fn set_cgroups_path(&mut self, path: &str) -> &mut Self {
        self.config["linux"]["cgroupsPath"] = json!(path);
        self.cgroups_paths.push(path.to_string());
        self
    }

    /// Write `config` to config.json.
    pub fn save(&self) {
        fs::write(
            self.config_path(),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .expect("write config.json");
    }

    /// Write raw bytes as config.json (for malformed-config tests).
    pub fn write_raw_config(&self, data: &[u8]) {
        fs::write(self.config_path(), data).expect("write config.json");
    }
}

/// Mount points at or under `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let s = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir_s = dir.to_string_lossy().into_owned();
    let mut v: Vec<PathBuf> = s
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|m| m == &dir_s || m.starts_with(&format!("{dir_s}/")))
        .map(PathBuf::from)
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    v.dedup();
    v
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn umount_detach(p: &Path) -> bool {
    let c = match CString::new(p.as_os_str().as_encoded_bytes()) {
        Ok(c) => c,
        Err(_) => return false,
    };
    // SAFETY: valid NUL-terminated path.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) == 0 }
}

/// Best-effort: lazily unmount everything at or under `dir`. Returns true if
/// nothing is mounted there afterwards.
pub fn unmount_all_under(dir: &Path) -> bool {
    for _ in 0..4 {
        let ms = mounts_under(dir);
        if ms.is_empty() {
            return true;
        }
        for m in ms {
            umount_detach(&m);
        }
    }
    mounts_under(dir).is_empty()
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for p in &self.cgroups_paths {
            remove_cgroup(p);
        }
        if unmount_all_under(&self.dir) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// Cgroups
// ---------------------------------------------------------------------------

/// Layout of the host's cgroup filesystems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupKind {
    /// Only v1 hierarchies under /sys/fs/cgroup/<controller>.
    V1,
    /// v1 hierarchies plus a cgroup2 mount at /sys/fs/cgroup/unified.
    Hybrid,
    /// cgroup2 mounted at /sys/fs/cgroup.
    V2,
}

fn statfs_magic(path: &str) -> Option<i64> {
    let c = CString::new(path).ok()?;
    // SAFETY: zeroed statfs is a valid out buffer; c is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    Some(st.f_type as i64)
}

/// The host's cgroup layout (statfs of /sys/fs/cgroup: cgroup2 = v2; tmpfs with a cgroup2
/// mount at /sys/fs/cgroup/unified = hybrid; anything else = v1). Computed once.
pub fn cgroup_kind() -> CgroupKind {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    static KIND: OnceLock<CgroupKind> = OnceLock::new();
    *KIND.get_or_init(|| {
        if statfs_magic("/sys/fs/cgroup") == Some(CGROUP2_SUPER_MAGIC) {
            CgroupKind::V2
        } else if statfs_magic("/sys/fs/cgroup/unified") == Some(CGROUP2_SUPER_MAGIC) {
            CgroupKind::Hybrid
        } else {
            CgroupKind::V1
        }
    })
}

/// Mount points of the cgroup filesystems at or under /sys/fs/cgroup (v1 hierarchies, the
/// hybrid unified mount, or the single v2 mount), from /proc/self/mountinfo.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let s = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v = Vec::new();
    for line in s.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if !matches!(right.split(' ').next(), Some("cgroup") | Some("cgroup2")) {
            continue;
        }
        let Some(mp) = left.split(' ').nth(4).map(unescape_mountinfo) else {
            continue;
        };
        if mp == "/sys/fs/cgroup" || mp.starts_with("/sys/fs/cgroup/") {
            let p = PathBuf::from(mp);
            if !v.contains(&p) {
                v.push(p);
            }
        }
    }
    v
}

/// Directories of cgroup `path` (e.g. "/hull-conf/<id>") that exist in any
/// cgroup hierarchy (every v1 hierarchy and the hybrid unified mount, or the v2 mount).
pub fn cgroup_leftovers(path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    let mut v = Vec::new();
    if rel.is_empty() {
        return v;
    }
    let mut mounts = cgroup_mounts();
    if mounts.is_empty() {
        mounts = match cgroup_kind() {
            CgroupKind::V2 => vec![PathBuf::from("/sys/fs/cgroup")],
            _ => CGROUP_V1_CONTROLLERS
                .iter()
                .chain(["unified"].iter())
                .map(|c| Path::new("/sys/fs/cgroup").join(c))
                .collect(),
        };
    }
    for m in mounts {
        let p = m.join(rel);
        if p.exists() {
            v.push(p);
        }
    }
    v
}

/// Assert no cgroup directory for `path` is left in any hierarchy.
#[track_caller]
pub fn assert_no_cgroup(path: &str) {
    let left = cgroup_leftovers(path);
    assert!(left.is_empty(), "cgroup directories left behind: {left:?}");
}

/// Best-effort removal of cgroup `path` in every hierarchy: SIGKILLs any
/// process still in it (or in a child cgroup), then rmdirs deepest first.
/// Only use it on paths the tests own (e.g. [`test_cgroups_path`]).
pub fn remove_cgroup(path: &str) {
    remove_cgroup_dirs(&cgroup_leftovers(path));
}

/// Like [`remove_cgroup`] for cgroup directories given by their full paths.
pub fn remove_cgroup_dirs(tops: &[PathBuf]) {
    if tops.is_empty() {
        return;
    }
    let mut dirs = Vec::new();
    for t in tops {
        if t.exists() {
            collect_dirs(t, &mut dirs);
        }
    }
    dirs.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    let procs = |dirs: &[PathBuf]| -> Vec<i32> {
        let mut v = Vec::new();
        for d in dirs {
            if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
                v.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        v
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ps = procs(&dirs);
        if ps.is_empty() || Instant::now() >= deadline {
            break;
        }
        for pid in ps {
            // SAFETY: plain kill(2).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        // a frozen cgroup would keep the killed processes around
        for d in &dirs {
            if d.starts_with("/sys/fs/cgroup/freezer") {
                let _ = fs::write(d.join("freezer.state"), "THAWED");
            }
            // cgroup2 (v2 or the hybrid unified mount)
            let _ = fs::write(d.join("cgroup.freeze"), "0");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for d in &dirs {
        for _ in 0..50 {
            if fs::remove_dir(d).is_ok() || !d.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// The cgroups path the tests configure for a container id.
pub fn test_cgroups_path(id: &str) -> String {
    format!("/hull-conf/{id}")
}

/// Cgroup directories left for `id` at the default location (no `linux.cgroupsPath`): like
/// runc's cgroupfs driver, hull uses `<caller's cgroup>/<id>` in every v1 hierarchy (and the
/// hybrid unified mount), and `<parent of the caller's cgroup>/<id>` on a v2 host (see
/// [`default_cgroup_dirs`]); the caller is this test process.
pub fn default_cgroup_leftovers(id: &str) -> Vec<PathBuf> {
    default_cgroup_dirs(id)
        .into_iter()
        .filter(|p| p.exists())
        .collect()
}

/// Where the runtime puts the cgroup of a container with the relative cgroups path `rel`
/// (the container id when there is no `linux.cgroupsPath`) when this test process calls it:
/// v1/hybrid: `/sys/fs/cgroup/<hierarchy>/<own cgroup there>/<rel>` for every hierarchy in
/// /proc/self/cgroup ("unified" for the hybrid cgroup2 line); v2: the parent of the own
/// cgroup, as runc's fs2 driver does (the own cgroup usually has processes, so controllers
/// cannot be enabled below it).
pub fn default_cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let kind = cgroup_kind();
    let mut v = Vec::new();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        let p = match (kind, ctrls) {
            (CgroupKind::V2, "") => {
                let parent = Path::new(path).parent().unwrap_or(Path::new("/"));
                Path::new("/sys/fs/cgroup")
                    .join(parent.strip_prefix("/").unwrap_or(parent))
                    .join(rel)
            }
            (CgroupKind::V2, _) | (CgroupKind::V1, "") => continue,
            (_, c) => {
                let mount = match c {
                    "" => "unified",
                    c => c.strip_prefix("name=").unwrap_or(c),
                };
                Path::new("/sys/fs/cgroup")
                    .join(mount)
                    .join(path.trim_start_matches('/'))
                    .join(rel)
            }
        };
        v.push(p);
    }
    v
}

// ---------------------------------------------------------------------------
// Container
// ---------------------------------------------------------------------------

/// Assert the runtime has no state dir for `id`.
#[track_caller]
pub fn assert_no_state(rt: &Runtime, id: &str) {
    let p = rt.state_dir(id);
    assert!(
        fs::symlink_metadata(&p).is_err(),
        "state left behind: {} exists",
        p.display()
    );
}

/// A container handle. Drop runs `delete --force` (best effort).
///
/// The container's stdout/stderr (and the runtime's own output of `create`)
/// go to `<bundle>/<id>.out` / `<bundle>/<id>.err` (see [`Container::stdout`]).
pub struct Container<'a> {
    pub id: String,
    pub runtime: &'a Runtime,
    pub bundle: &'a Bundle,
}

impl<'a> Container<'a> {
    /// A handle with a fresh unique id (nothing is created yet).
    pub fn new(runtime: &'a Runtime, bundle: &'a Bundle) -> Container<'a> {
        Container::with_id(runtime, bundle, &unique_id("c"))
    }

    pub fn with_id(runtime: &'a Runtime, bundle: &'a Bundle, id: &str) -> Container<'a> {
        Container {
            id: id.to_string(),
            runtime,
            bundle,
        }
    }

    pub fn stdout_path(&self) -> PathBuf {
        self.bundle.dir.join(format!("{}.out", self.id))
    }

    pub fn stderr_path(&self) -> PathBuf {
        self.bundle.dir.join(format!("{}.err", self.id))
    }

    /// What was written so far to the container's stdout file.
    pub fn stdout(&self) -> String {
        fs::read_to_string(self.stdout_path()).unwrap_or_default()
    }

    /// What was written so far to the container's stderr file.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// `create --bundle <dir> <id>`; panics on failure.
    #[track_caller]
    pub fn create(&self) -> &Self {
        let o = self.try_create();
        assert_ok(&o, &format!("create {}", self.id));
        self
    }

    /// `create --bundle <dir> <id>` without asserting success.
    pub fn try_create(&self) -> Output {
        self.create_with(&[], &self.stdout_path(), &self.stderr_path())
    }

    /// `create --bundle <dir> [extra...] <id>` with the container's (and the
    /// create command's) stdout/stderr going to the given files (created or
    /// truncated). stdin is null. The returned Output holds what the files
    /// contained when `create` exited.
    pub fn create_with(&self, extra: &[&str], stdout: &Path, stderr: &Path) -> Output {
        let out_f = File::create(stdout).expect("create stdout file");
        let err_f = File::create(stderr).expect("create stderr file");
        let mut args: Vec<&str> = vec!["create", "--bundle", self.bundle.dir_str()];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let mut cmd = self.runtime.cmd(&args);
        cmd.stdin(Stdio::null()).stdout(out_f).stderr(err_f);
        let desc = format!("{:?}", cmd);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
        let status = wait_child(&mut child, budget(CMD_TIMEOUT), &desc);
        Output {
            status,
            stdout: fs::read(stdout).unwrap_or_default(),
            stderr: fs::read(stderr).unwrap_or_default(),
        }
    }

    /// `start <id>`; panics on failure.
    #[track_caller]
    pub fn start(&self) -> &Self {
        let o = self.try_start();
        assert_ok(&o, &format!("start {}", self.id));
        self
    }

    pub fn try_start(&self) -> Output {
        self.runtime.run(&["start", &self.id])
    }

    /// `state <id>` parsed; panics on failure.
    #[track_caller]
    pub fn state(&self) -> Value {
        let o = self.try_state();
        assert_ok(&o, &format!("state {}", self.id));
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}): {}", describe(&o)))
    }

    pub fn try_state(&self) -> Output {
        self.runtime.run(&["state", &self.id])
    }

    /// The current status, or None if `state` fails.
    pub fn status(&self) -> Option<String> {
        let o = self.try_state();
        if !o.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&o.stdout).ok()?;
        v["status"].as_str().map(str::to_string)
    }

    /// The container's init pid from `state`.
    #[track_caller]
    pub fn pid(&self) -> i32 {
        self.state()["pid"].as_i64().expect("state pid") as i32
    }

    /// `kill <id> <sig>`; panics on failure.
    #[track_caller]
    pub fn kill(&self, sig: &str) -> &Self {
        let o = self.try_kill(sig);
        assert_ok(&o, &format!("kill {} {}", self.id, sig));
        self
    }

    pub fn try_kill(&self, sig: &str) -> Output {
        self.runtime.run(&["kill", &self.id, sig])
    }

    /// `delete <id>`; panics on failure.
    #[track_caller]
    pub fn delete(&self) -> &Self {
        let o = self.try_delete();
        assert_ok(&o, &format!("delete {}", self.id));
        self
    }

    pub fn try_delete(&self) -> Output {
        self.runtime.run(&["delete", &self.id])
    }

    pub fn delete_force(&self) -> Output {
        self.runtime.run(&["delete", "--force", &self.id])
    }

    /// Poll `state` until status == `status`; panics with the last state on timeout.
    #[track_caller]
    pub fn wait_status(&self, status: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            last = self.status();
            if last.as_deref() == Some(status) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "container {} did not reach status {status:?} within {timeout:?} (last: {last:?})",
                    self.id
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Path of a file inside the container's rootfs as seen from the host.
    pub fn host_path(&self, in_container: &str) -> PathBuf {
        self.bundle
            .rootfs()
            .join(in_container.trim_start_matches('/'))
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if self.runtime.state_dir(&self.id).exists() {
            let mut c = self.runtime.cmd(&["delete", "--force", &self.id]);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                output_with_timeout(&mut c, Duration::from_secs(15))
            }));
        }
    }
}

/// Run `args` in a fresh container from `bundle` with foreground `run`
/// (process.args set to `args`, config saved), 60 s timeout.
/// Returns (exit code, stdout, stderr); exit code is 128+sig if the runtime died from a signal.
pub fn run_container(rt: &Runtime, bundle: &mut Bundle, args: &[&str]) -> (i32, String, String) {
    bundle.set_args(args);
    bundle.save();
    let id = unique_id("run");
    let o = {
        let _guard = Container::with_id(rt, bundle, &id);
        let mut cmd = rt.cmd(&["run", "--bundle", bundle.dir_str(), &id]);
        output_with_timeout(&mut cmd, Duration::from_secs(60))
    };
    (exit_code(&o.status), stdout_str(&o), stderr_str(&o))
}

/// A directory removed (recursively, after unmounting anything under it) on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new unique directory under [`BUNDLE_BASE`].
    pub fn new(prefix: &str) -> TempDir {
        TempDir::at(Path::new(BUNDLE_BASE).join(unique_id(prefix)))
    }

    /// Create `path` (and parents) and guard it.
    pub fn at(path: PathBuf) -> TempDir {
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if unmount_all_under(&self.0) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Poll `f` until it returns true or `timeout` passes; returns the last result.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Misc helpers
// ---------------------------------------------------------------------------

/// Parsed RFC 3339 timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339 {
    /// Seconds since the Unix epoch (UTC).
    pub unix_secs: i64,
    pub nanos: u32,
    /// Number of fractional-second digits present (0 if none).
    pub frac_digits: usize,
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Strict RFC 3339 parser (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
pub fn parse_rfc3339(s: &str) -> Option<Rfc3339> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    let mut digits = 0;
    if b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            if digits < 9 {
                nanos = nanos * 10 + (b[i] - b'0') as u32;
            }
            digits += 1;
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let rest = &s[i..];
    let offset: i64 = if rest == "Z" || rest == "z" {
        0
    } else {
        let rb = rest.as_bytes();
        if rb.len() != 6 || !(rb[0] == b'+' || rb[0] == b'-') || rb[3] != b':' {
            return None;
        }
        let oh: i64 = rest[1..3].parse().ok()?;
        let om: i64 = rest[4..6].parse().ok()?;
        let o = oh * 3600 + om * 60;
        if rb[0] == b'-' {
            -o
        } else {
            o
        }
    };
    let unix_secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
    Some(Rfc3339 {
        unix_secs,
        nanos,
        frac_digits: digits,
    })
}

/// Seconds since the epoch now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// True if `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            // state is the field after the ")" closing the comm
            let st = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            !matches!(st, Some(Some('Z')) | Some(Some('X')))
        }
        Err(_) => false,
    }
}

impl Container<'_> {
    /// Spawn `run [extra...] --bundle <dir> <id>` (foreground run) in the
    /// background with stdin null and stdout/stderr to the container's files.
    /// Wait for it with [`wait_child`].
    pub fn spawn_run(&self, extra: &[&str]) -> std::process::Child {
        let out_f = File::create(self.stdout_path()).expect("create stdout file");
        let err_f = File::create(self.stderr_path()).expect("create stderr file");
        let mut args: Vec<&str> = vec!["run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--bundle", self.bundle.dir_str(), &self.id]);
        let mut cmd = self.runtime.cmd(&args);
        cmd.stdin(Stdio::null()).stdout(out_f).stderr(err_f);
        cmd.spawn().expect("spawn run")
    }

    /// `exec <id> args...` (foreground, stdin null, 30 s timeout).
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut a: Vec<&str> = vec!["exec", &self.id];
        a.extend_from_slice(args);
        self.runtime.run(&a)
    }

    /// Wait until the file `in_container` exists in the rootfs (seen from the host).
    #[track_caller]
    pub fn wait_file(&self, in_container: &str, timeout: Duration) {
        let p = self.host_path(in_container);
        assert!(
            poll_until(timeout, || p.exists()),
            "{} did not appear within {timeout:?}; container stderr: {:?}",
            p.display(),
            self.stderr()
        );
    }
}
