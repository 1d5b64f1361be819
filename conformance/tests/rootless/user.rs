//! An unprivileged test user, created for one test and removed (with its home, its
//! subordinate ids, its containers, its delegated cgroups and its processes) by Drop, also
//! when the test fails. useradd/usermod/userdel lock /etc/passwd, /etc/shadow, /etc/group and
//! /etc/sub{u,g}id themselves; when another test holds a lock they fail, so they are retried.

use hull_conformance::*;
use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Where the test users' homes live (each user's bundles and XDG_RUNTIME_DIR are inside).
const HOME_BASE: &str = "/tmp/hull-rootless";

/// A bundle in a test user's home.
pub struct UserBundle {
    pub dir: PathBuf,
    pub config: serde_json::Value,
}

impl UserBundle {
    pub fn dir_str(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}

pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// First subordinate uid/gid and count, when the user has them.
    pub subids: Option<(u32, u32)>,
    /// cgroup directories delegated to the user (removed deepest first).
    cgroups: RefCell<Vec<PathBuf>>,
    /// cgroup.procs files the user's commands are started in (a delegated cgroup).
    join: RefCell<Vec<PathBuf>>,
}

/// The binary's own name for its state directory under XDG_RUNTIME_DIR ("hull", "runc" or
/// "crun").
pub fn runtime_name() -> &'static str {
    match hull_bin().file_name().and_then(|n| n.to_str()) {
        Some("runc") => "runc",
        Some("crun") => "crun",
        _ => "hull",
    }
}

/// Whether the binary under test is a runc (to tell documented differences apart).
pub fn is_runc() -> bool {
    runtime_name() == "runc"
}

/// Runs an account tool, retrying while another test holds the account files' locks.
fn try_account_tool(args: &[&str]) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..200 {
        match Command::new(args[0]).args(&args[1..]).output() {
            Ok(o) if o.status.success() => return Ok(()),
            Ok(o) => last = String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{args:?} failed: {last}"))
}

fn account_tool(args: &[&str]) {
    if let Err(e) = try_account_tool(args) {
        panic!("{e}");
    }
}

fn passwd_ids(name: &str) -> (u32, u32) {
    let text = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = text
        .lines()
        .find(|l| l.split(':').next() == Some(name))
        .expect("new user in /etc/passwd");
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

fn subid_range(file: &str, name: &str) -> Option<(u32, u32)> {
    let text = fs::read_to_string(file).unwrap_or_default();
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() == 3 && f[0] == name).then(|| (f[1].parse().unwrap(), f[2].parse().unwrap()))
    })
}

pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let o = Command::new("chown")
        .arg("-hR")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .output()
        .expect("chown");
    assert!(o.status.success(), "chown {}: {o:?}", path.display());
}

impl TestUser {
    /// A new user; with `subids` it gets the subordinate uid/gid range useradd allocates
    /// (Debian's useradd does, since /etc/subuid exists), else none.
    pub fn new(subids: bool) -> TestUser {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "hullrl{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        fs::create_dir_all(HOME_BASE).unwrap();
        fs::set_permissions(HOME_BASE, fs::Permissions::from_mode(0o755)).unwrap();
        let home = Path::new(HOME_BASE).join(&name);
        let home_s = home.to_str().unwrap().to_string();
        let mut args = vec!["useradd", "-m", "-d", &home_s, "-s", "/bin/sh"];
        if !subids {
            args.extend(["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]);
        }
        args.push(&name);
        account_tool(&args);
        let (uid, gid) = passwd_ids(&name);
        let mut u = TestUser {
            name,
            uid,
            gid,
            home,
            subids: None,
            cgroups: RefCell::new(Vec::new()),
            join: RefCell::new(Vec::new()),
        };
        if subids {
            let su = subid_range("/etc/subuid", &u.name).expect("useradd allocated subuids");
            let sg = subid_range("/etc/subgid", &u.name).expect("useradd allocated subgids");
            assert_eq!(su, sg, "the tests expect equal subuid and subgid ranges");
            u.subids = Some(su);
        } else {
            assert!(subid_range("/etc/subuid", &u.name).is_none());
        }
        let xdg = u.xdg_runtime_dir();
        fs::create_dir_all(&xdg).unwrap();
        fs::set_permissions(&xdg, fs::Permissions::from_mode(0o700)).unwrap();
        chown_tree(&u.home, uid, gid);
        u
    }

    /// The user's XDG_RUNTIME_DIR (what /run/user/<uid> is for a logged-in user).
    pub fn xdg_runtime_dir(&self) -> PathBuf {
        self.home.join("xdg")
    }

    /// The default state root of the runtime for this user.
    pub fn default_root(&self) -> PathBuf {
        self.xdg_runtime_dir().join(runtime_name())
    }

    /// Remember a delegated cgroup directory to remove.
    pub fn add_cgroup(&self, dir: &Path) {
        self.cgroups.borrow_mut().push(dir.to_path_buf());
    }

    /// Start the user's later commands in this cgroup (its cgroup.procs), as a login session
    /// in a delegated cgroup would be.
    pub fn start_in(&self, procs: &Path) {
        self.join.borrow_mut().push(procs.to_path_buf());
    }

    /// `program args` as the user: a clean login-like environment, the user's home as cwd,
    /// no supplementary groups.
    pub fn cmd(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("XDG_RUNTIME_DIR", self.xdg_runtime_dir())
            .current_dir(&self.home);
        let (uid, gid) = (self.uid, self.gid);
        let join: Vec<std::ffi::CString> = self
            .join
            .borrow()
            .iter()
            .map(|p| std::ffi::CString::new(p.to_str().unwrap()).unwrap())
            .collect();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            c.pre_exec(move || {
                // Still root here: enter the delegated cgroups, then drop to the user.
                for p in &join {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(fd);
                }
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setresgid(gid, gid, gid) != 0
                    || libc::setresuid(uid, uid, uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        c
    }

    /// The runtime under test, run by the user.
    pub fn rt(&self, args: &[&str]) -> Command {
        self.cmd(&hull_bin(), args)
    }

    /// Runs the runtime as the user and waits for it.
    pub fn run(&self, args: &[&str]) -> Output {
        output_with_timeout(&mut self.rt(args), budget(Duration::from_secs(30)))
    }

    /// A busybox bundle in the user's home, owned by the user, whose config.json is what
    /// `<runtime> spec --rootless` writes (run by the user), with `args` as the process and
    /// no terminal. It goes away with the home.
    pub fn bundle(&self, name: &str, args: &[&str]) -> UserBundle {
        let dir = self.home.join(name);
        make_busybox_rootfs(&dir.join("rootfs"));
        chown_tree(&dir, self.uid, self.gid);
        let mut c = self.rt(&["spec", "--rootless"]);
        c.current_dir(&dir);
        let o = output_with_timeout(&mut c, budget(Duration::from_secs(30)));
        assert_ok(&o, "spec --rootless as the user");
        let text = fs::read_to_string(dir.join("config.json")).expect("config.json by spec");
        let mut b = UserBundle {
            dir,
            config: serde_json::from_str(&text).expect("spec writes JSON"),
        };
        b.config["process"]["terminal"] = serde_json::json!(false);
        b.config["process"]["args"] = serde_json::json!(args);
        self.save(&b);
        b
    }

    /// Saves the bundle's config.json, owned by the user.
    pub fn save(&self, b: &UserBundle) {
        let path = b.dir.join("config.json");
        fs::write(&path, serde_json::to_vec_pretty(&b.config).unwrap()).unwrap();
        std::os::unix::fs::chown(&path, Some(self.uid), Some(self.gid)).unwrap();
    }

    /// Pids of every live process whose real uid is the user's.
    pub fn processes(&self) -> Vec<i32> {
        let mut v = Vec::new();
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let status = fs::read_to_string(e.path().join("status")).unwrap_or_default();
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|s| s.parse::<u32>().ok());
            if uid == Some(self.uid) && pid_alive(pid) {
                v.push(pid);
            }
        }
        v
    }

    fn cleanup_containers(&self) {
        for root in [self.default_root()] {
            let Ok(entries) = fs::read_dir(&root) else {
                continue;
            };
            for e in entries.flatten() {
                if let Some(id) = e.file_name().to_str() {
                    let root_s = root.to_str().unwrap();
                    let _ = output_with_timeout(
                        &mut self.rt(&["--root", root_s, "delete", "--force", id]),
                        budget(Duration::from_secs(30)),
                    );
                }
            }
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        self.cleanup_containers();
        // Anything the user still runs belongs to this test (the user exists only for it).
        for pid in self.processes() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        poll_until(Duration::from_secs(10), || self.processes().is_empty());
        let mut cgroups = self.cgroups.borrow().clone();
        cgroups.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for dir in cgroups {
            remove_cgroup_tree(&dir);
        }
        // No panic here: Drop may run while a failed test unwinds.
        if let Err(e) = try_account_tool(&["userdel", "-r", &self.name]) {
            eprintln!("cleanup of test user {}: {e}", self.name);
        }
        let _ = fs::remove_dir_all(&self.home);
    }
}

/// Removes a cgroup directory and its sub-cgroups (children first).
pub fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    for _ in 0..50 {
        match fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            _ => return,
        }
    }
}
