//! OCI bundles: runc's default config, a busybox rootfs, and the `Bundle` guard.

use crate::binary::{unique_id, BUNDLE_BASE};
use crate::cgroups::{remove_cgroup, test_cgroups_path};
use crate::mounts::unmount_all_under;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

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

    /// A busybox bundle, saved, whose program sleeps (`sleep 1000`) in the test cgroup of
    /// `id` ([`test_cgroups_path`]): a container to exec into, signal or inspect.
    pub fn sleeping(id: &str) -> Bundle {
        let mut b = Bundle::busybox();
        b.set_cgroups_path(&test_cgroups_path(id));
        b.set_args(&["sleep", "1000"]);
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

    /// Appends `m` to the config's mounts.
    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts array")
            .push(m);
        self
    }

    /// Drops the mounts whose destination is `dest`.
    pub fn remove_mount(&mut self, dest: &str) -> &mut Self {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts array")
            .retain(|m| m["destination"] != dest);
        self
    }

    /// Drops the namespace of type `kind` (`"pid"`, `"network"`, ...): the container shares the
    /// caller's.
    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces array")
            .retain(|n| n["type"] != kind);
        self
    }

    /// Adds a new user namespace mapping container 0..65536 to host 100000.. (uid and gid),
    /// and drops the /sys/fs/cgroup mount (cgroup v1 cannot be mounted from a user namespace).
    pub fn add_user_namespace(&mut self) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces array")
            .push(json!({ "type": "user" }));
        self.config["linux"]["uidMappings"] =
            json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        self.config["linux"]["gidMappings"] =
            json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        self.remove_mount("/sys/fs/cgroup")
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
