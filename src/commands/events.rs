//! `hull events [--stats] [--interval D] <id>`: the container's statistics and OOM
//! notifications as JSON lines, like runc's `events`.
//!
//! With --stats one `{"type":"stats","id":..,"data":{..}}` line is printed. Otherwise a stats
//! line is printed every interval (the first one after one interval, like Go's time.Tick) and
//! an `{"type":"oom","id":..}` line whenever the container's memory cgroup hits OOM, until the
//! container stops; then hull exits 0.
//!
//! OOM sources: cgroup v1 (and hybrid hosts, where memory is a v1 controller) register an
//! eventfd for memory.oom_control through cgroup.event_control; cgroup v2 watches memory.events
//! with inotify and reports increases of its `oom_kill` counter. The container's end is seen on
//! a pidfd of its init process (and, on v1, on the eventfd the kernel signals when the cgroup is
//! removed; on v2, on cgroup.events reporting `populated 0`).

use super::Globals;
use crate::cgroups::{CgroupState, HostKind, Stats};
use crate::cli::args::{flag, parse, FlagSpec, Kind, Trailing};
use crate::state::Status;
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const FLAGS: &[FlagSpec] = &[
    flag(&["interval"], Kind::Value),
    flag(&["stats"], Kind::Bool),
];

/// runc's default --interval.
const DEFAULT_INTERVAL_NS: i64 = 5_000_000_000;

// ---------------------------------------------------------------------------------------------
// Go's time.ParseDuration
// ---------------------------------------------------------------------------------------------

/// Go's time.quote: ASCII printable characters as they are (with `"` and `\` escaped), every
/// other byte as \xNN.
fn go_time_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for &b in s.as_bytes() {
        if !(b' '..0x80).contains(&b) {
            out.push_str(&format!("\\x{b:02x}"));
        } else {
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(b as char);
        }
    }
    out.push('"');
    out
}

fn unit_ns(u: &[u8]) -> Option<u64> {
    Some(match u {
        b"ns" => 1,
        b"us" => 1_000,
        [0xc2, 0xb5, b's'] => 1_000, // U+00B5 micro sign
        [0xce, 0xbc, b's'] => 1_000, // U+03BC Greek small letter mu
        b"ms" => 1_000_000,
        b"s" => 1_000_000_000,
        b"m" => 60_000_000_000,
        b"h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Go's time.ParseDuration: a signed sequence of decimal numbers, each with an optional
/// fraction and a unit suffix ("300ms", "-1.5h", "2h45m"). Returns nanoseconds; the error text
/// is Go's.
pub fn parse_go_duration(orig: &str) -> std::result::Result<i64, String> {
    const LIMIT: u64 = 1 << 63;
    let invalid = || format!("time: invalid duration {}", go_time_quote(orig));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = &s[1..];
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // The integer part.
        let mut v: u64 = 0;
        let mut i = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            if v > LIMIT / 10 {
                return Err(invalid());
            }
            v = v * 10 + (s[i] - b'0') as u64;
            if v > LIMIT {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > 0;
        s = &s[i..];
        // The fraction: keeps the digits that fit, like Go's leadingFraction.
        let mut f: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let mut i = 0;
            let mut overflow = false;
            while i < s.len() && s[i].is_ascii_digit() {
                if !overflow {
                    if f > (LIMIT - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + (s[i] - b'0') as u64;
                        if y > LIMIT {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            post = i > 0;
            s = &s[i..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // The unit: everything up to the next digit or '.'.
        let mut i = 0;
        while i < s.len() && !(s[i] == b'.' || s[i].is_ascii_digit()) {
            i += 1;
        }
        if i == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                go_time_quote(orig)
            ));
        }
        let u = &s[..i];
        s = &s[i..];
        let Some(unit) = unit_ns(u) else {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                go_time_quote(&String::from_utf8_lossy(u)),
                go_time_quote(orig)
            ));
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        d += v;
        if d > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i128).wrapping_neg() as i64);
    }
    if d > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(d as i64)
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/// runc's types.Event, in its field order.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    typ: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Stats>,
}

/// Prints one event line and flushes. A closed stdout ends hull the way it ends runc (Go
/// programs die of SIGPIPE when fd 1 is a broken pipe).
fn emit(ev: &Event) -> Result<()> {
    let mut line = serde_json::to_vec(ev)?;
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(&line).and_then(|_| out.flush()) {
        if e.raw_os_error() == Some(libc::EPIPE) {
            crate::util::stdout::die_of_sigpipe();
        }
        return Err(anyhow!(e).context("writing event"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// OOM notification
// ---------------------------------------------------------------------------------------------

enum Source {
    /// v1: eventfd registered for memory.oom_control (kept open while registered).
    V1 {
        efd: OwnedFd,
        _oom_control: std::fs::File,
        event_control: PathBuf,
    },
    /// v2: inotify on memory.events and cgroup.events.
    V2 {
        ino: OwnedFd,
        events_wd: i32,
        cgroup_wd: i32,
    },
}

/// Watches a memory cgroup for OOM. The kernel's notifications (the v1 eventfd, inotify on
/// v2) only say "look again", and a v1 cgroup signals its eventfd many times while one victim
/// dies, so each notification is checked against the cgroup's `oom_kill` counter: one event
/// per OOM kill. A v1 cgroup with the OOM killer disabled has no kills; there an event is
/// reported each time the cgroup enters `under_oom`.
struct OomWatch {
    src: Source,
    dir: PathBuf,
    /// The counters seen last (None: this kernel has no oom_kill counter).
    kills: Option<u64>,
    under_oom: bool,
}

/// What the OOM source reported.
#[derive(Default)]
struct OomNews {
    ooms: u64,
    /// The cgroup was removed or has become empty.
    gone: bool,
}

fn last_os_error(what: &str) -> anyhow::Error {
    anyhow!(std::io::Error::last_os_error()).context(what.to_string())
}

fn memory_dir_v1(cg: &CgroupState) -> Option<&Path> {
    cg.paths
        .iter()
        .find(|(k, _)| k.split(',').any(|c| c == "memory"))
        .map(|(_, p)| p.as_path())
}

fn unified_dir(cg: &CgroupState) -> Option<&Path> {
    match cg.kind {
        HostKind::V2 => cg.paths.get(""),
        _ => cg.paths.get("unified"),
    }
    .map(|p| p.as_path())
}

/// A value of a flat-keyed cgroup file ("key value" lines).
fn keyed(dir: &Path, file: &str, key: &str) -> Option<u64> {
    let t = std::fs::read_to_string(dir.join(file)).ok()?;
    t.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

impl OomWatch {
    fn new(cg: &CgroupState) -> Result<Option<OomWatch>> {
        if cg.kind != HostKind::V2 {
            if let Some(dir) = memory_dir_v1(cg) {
                return Self::v1(dir).map(Some);
            }
        }
        match unified_dir(cg) {
            Some(dir) if dir.join("memory.events").exists() => Self::v2(dir).map(Some),
            _ => Ok(None),
        }
    }

    fn v1(dir: &Path) -> Result<OomWatch> {
        let oc = dir.join("memory.oom_control");
        let oom_control =
            std::fs::File::open(&oc).with_context(|| format!("opening {}", oc.display()))?;
        // SAFETY: eventfd has no memory-safety preconditions.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(last_os_error("eventfd"));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let efd = unsafe { OwnedFd::from_raw_fd(fd) };
        let event_control = dir.join("cgroup.event_control");
        crate::util::fs::write_value(
            &event_control,
            &format!("{} {}", efd.as_raw_fd(), oom_control.as_raw_fd()),
        )
        .with_context(|| format!("registering for OOM notifications in {}", dir.display()))?;
        let mut w = OomWatch {
            src: Source::V1 {
                efd,
                _oom_control: oom_control,
                event_control,
            },
            dir: dir.to_path_buf(),
            kills: None,
            under_oom: false,
        };
        w.kills = w.read_kills();
        w.under_oom = keyed(dir, "memory.oom_control", "under_oom") == Some(1);
        Ok(w)
    }

    fn v2(dir: &Path) -> Result<OomWatch> {
        // SAFETY: inotify_init1 has no memory-safety preconditions.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if fd < 0 {
            return Err(last_os_error("inotify_init1"));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let ino = unsafe { OwnedFd::from_raw_fd(fd) };
        let watch = |file: &str| -> Result<i32> {
            let p = dir.join(file);
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())?;
            // SAFETY: ino is a valid inotify fd, c a NUL-terminated path.
            let wd =
                unsafe { libc::inotify_add_watch(ino.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) };
            if wd < 0 {
                return Err(last_os_error(&format!("watching {}", p.display())));
            }
            Ok(wd)
        };
        let events_wd = watch("memory.events")?;
        let cgroup_wd = watch("cgroup.events")?;
        let mut w = OomWatch {
            src: Source::V2 {
                ino,
                events_wd,
                cgroup_wd,
            },
            dir: dir.to_path_buf(),
            kills: None,
            under_oom: false,
        };
        w.kills = w.read_kills();
        Ok(w)
    }

    fn read_kills(&self) -> Option<u64> {
        match self.src {
            Source::V1 { .. } => keyed(&self.dir, "memory.oom_control", "oom_kill"),
            Source::V2 { .. } => keyed(&self.dir, "memory.events", "oom_kill"),
        }
    }

    fn fd(&self) -> i32 {
        match &self.src {
            Source::V1 { efd, .. } => efd.as_raw_fd(),
            Source::V2 { ino, .. } => ino.as_raw_fd(),
        }
    }

    /// OOMs since the last look, from the counters.
    fn count(&mut self, notified: bool) -> u64 {
        let mut n = 0;
        match (self.kills, self.read_kills()) {
            (Some(old), Some(now)) => {
                n = now.saturating_sub(old);
                self.kills = Some(now);
            }
            // No counter (old v1 kernels): every notification is an OOM, as in runc.
            (None, None) if notified => n = 1,
            _ => {}
        }
        if let Source::V1 { .. } = self.src {
            let under = keyed(&self.dir, "memory.oom_control", "under_oom") == Some(1);
            let disabled = keyed(&self.dir, "memory.oom_control", "oom_kill_disable") == Some(1);
            if under && !self.under_oom && disabled && n == 0 {
                n = 1;
            }
            self.under_oom = under;
        }
        n
    }

    /// Consumes pending notifications (non-blocking) and reports what changed.
    fn check(&mut self) -> OomNews {
        let mut news = OomNews::default();
        let mut notified = false;
        match &self.src {
            Source::V1 {
                efd, event_control, ..
            } => {
                let mut buf = [0u8; 8];
                // SAFETY: reading 8 bytes into an 8-byte buffer.
                let n = unsafe { libc::read(efd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                if n == 8 {
                    notified = true;
                    // The kernel also signals the eventfd when the cgroup is removed.
                    if !event_control.exists() {
                        news.gone = true;
                    }
                }
            }
            Source::V2 {
                ino,
                events_wd,
                cgroup_wd,
            } => {
                let mut buf = [0u8; 4096];
                let hdr = std::mem::size_of::<libc::inotify_event>();
                let mut cgroup_events = false;
                loop {
                    // SAFETY: reading into a buffer of the given size.
                    let n =
                        unsafe { libc::read(ino.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        break;
                    }
                    let n = n as usize;
                    let mut off = 0;
                    while off + hdr <= n {
                        // SAFETY: the kernel wrote a whole inotify_event header at `off`.
                        let ev: libc::inotify_event =
                            unsafe { std::ptr::read_unaligned(buf[off..].as_ptr().cast()) };
                        if ev.mask & libc::IN_IGNORED != 0 {
                            news.gone = true;
                        }
                        if ev.wd == *events_wd {
                            notified = true;
                        } else if ev.wd == *cgroup_wd {
                            cgroup_events = true;
                        }
                        off += hdr + ev.len as usize;
                    }
                }
                if cgroup_events && keyed(&self.dir, "cgroup.events", "populated") == Some(0) {
                    news.gone = true;
                }
                if !self.dir.exists() {
                    news.gone = true;
                }
            }
        }
        news.ooms = self.count(notified);
        news
    }
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

/// Waits until one of `fds` is readable or `timeout` passes; returns the readable ones.
fn wait(fds: &[i32], timeout: Duration) -> Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let secs = timeout.as_secs().min(i64::MAX as u64 / 2) as _;
    let ts = libc::timespec {
        tv_sec: secs,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: p holds p.len() valid pollfds; ts is a valid timespec.
    let r = unsafe {
        libc::ppoll(
            p.as_mut_ptr(),
            p.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(vec![false; fds.len()]);
        }
        return Err(anyhow!(e).context("ppoll"));
    }
    Ok(p.iter().map(|x| x.revents != 0).collect())
}

/// How often the cgroup is checked for emptiness once the init of a container without its own
/// pid namespace has exited.
const EMPTY_CHECK: Duration = Duration::from_millis(200);

/// Whether the container's saved config asks for a new pid namespace (no path). Unknown (an
/// unreadable config) counts as yes: then the init's exit ends the stream, as before.
fn has_own_pid_namespace(state_dir: &std::path::Path) -> bool {
    let Ok(raw) = std::fs::read(state_dir.join(crate::state::CONFIG_FILE)) else {
        return true;
    };
    let Ok(cfg) = serde_json::from_slice::<serde_json::Value>(&raw) else {
        return true;
    };
    cfg.pointer("/linux/namespaces")
        .and_then(|n| n.as_array())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.get("type").and_then(|t| t.as_str()) == Some("pid")
                    && n.get("path")
                        .and_then(|p| p.as_str())
                        .is_none_or(str::is_empty)
            })
        })
}

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::Interleaved)?;
    let interval = match p.get("interval") {
        None => DEFAULT_INTERVAL_NS,
        Some(v) => parse_go_duration(v).map_err(|_| {
            anyhow!(
                "invalid value {} for flag -interval: parse error",
                serde_json::to_string(v).unwrap_or_default()
            )
        })?,
    };
    let id = super::create::single_id("events", &p)?;
    crate::state::id::validate(id)?;
    let st = g.store.load(id)?;
    if interval <= 0 {
        bail!("duration interval must be greater than 0");
    }
    if matches!(st.status(&g.store), Status::Stopped | Status::Creating) {
        bail!("container with id {id} is not running");
    }
    let cg = st.cgroup.as_ref().context("container has no cgroup")?;
    let mgr = crate::cgroups::load_manager(cg)?;

    if p.bool("stats") {
        let s = mgr.stats()?;
        emit(&Event {
            typ: "stats",
            id,
            data: Some(&s),
        })?;
        return Ok(0);
    }

    // The init's pidfd tells when the container stops; opened, then checked against the
    // recorded start time so a recycled pid is never followed.
    let pidfd = match crate::util::proc::pidfd_open(st.pid) {
        Ok(fd) if crate::util::proc::is_alive(st.pid, st.pid_start) => fd,
        _ => return Ok(0),
    };
    let mut oom = OomWatch::new(cg)?;
    let interval = Duration::from_nanos(interval as u64);
    let mut next = Instant::now() + interval;
    // Without a pid namespace of its own, the container's other processes outlive its init:
    // then, like runc, follow the cgroup until it is empty.
    let own_pid_ns = has_own_pid_namespace(&g.store.dir(id));
    let mut init_gone = false;
    let cgroup_empty = || mgr.pids().map(|p| p.is_empty()).unwrap_or(true);
    loop {
        // pidfd first (index 0) while the init lives; a dead one would poll ready forever
        let mut fds = vec![if init_gone { -1 } else { pidfd.as_raw_fd() }];
        if let Some(o) = &oom {
            fds.push(o.fd());
        }
        let mut timeout = next.saturating_duration_since(Instant::now());
        if init_gone {
            timeout = timeout.min(EMPTY_CHECK);
        }
        let ready = wait(&fds, timeout)?;
        if ready[0] && !own_pid_ns {
            init_gone = true;
        }
        let mut stopped = if init_gone { cgroup_empty() } else { ready[0] };
        if let Some(o) = oom.as_mut() {
            if ready.get(1) == Some(&true) {
                let news = o.check();
                for _ in 0..news.ooms {
                    emit(&Event {
                        typ: "oom",
                        id,
                        data: None,
                    })?;
                }
                stopped |= news.gone;
            }
        }
        if stopped {
            // A last look: a kill that ended the container may not have been read yet.
            if let Some(o) = oom.as_mut() {
                for _ in 0..o.check().ooms {
                    emit(&Event {
                        typ: "oom",
                        id,
                        data: None,
                    })?;
                }
            }
            return Ok(0);
        }
        let now = Instant::now();
        if now >= next {
            match mgr.stats() {
                Ok(s) => emit(&Event {
                    typ: "stats",
                    id,
                    data: Some(&s),
                })?,
                // runc logs the error and keeps going.
                Err(e) => crate::logging::error(&format!("{e:#}")),
            }
            // Like a Go ticker, ticks missed while busy are dropped.
            next += interval;
            if next <= now {
                next = now + interval;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        let ok = |s: &str| parse_go_duration(s).unwrap();
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("+0"), 0);
        assert_eq!(ok("-0"), 0);
        assert_eq!(ok("5s"), 5_000_000_000);
        assert_eq!(ok("1m30s"), 90_000_000_000);
        assert_eq!(ok("500ms"), 500_000_000);
        assert_eq!(ok("1h"), 3_600_000_000_000);
        assert_eq!(ok("2.5s"), 2_500_000_000);
        assert_eq!(ok("300us"), 300_000);
        assert_eq!(ok("300\u{b5}s"), 300_000);
        assert_eq!(ok("300\u{3bc}s"), 300_000);
        assert_eq!(ok("10ns"), 10);
        assert_eq!(ok(".5s"), 500_000_000);
        assert_eq!(ok("1.s"), 1_000_000_000);
        assert_eq!(ok("-1.5h"), -5_400_000_000_000);
        assert_eq!(ok("1h2m3s4ms5us6ns"), 3_723_004_005_006);
        assert_eq!(ok("0.000000001s"), 1);
        assert_eq!(ok("1.0000000001s"), 1_000_000_000);
        assert_eq!(ok("9223372036854775807ns"), i64::MAX);
        assert_eq!(ok("-9223372036854775808ns"), i64::MIN);
        assert_eq!(ok("2562047h47m16.854775807s"), i64::MAX);
        let err = |s: &str| parse_go_duration(s).unwrap_err();
        assert_eq!(err(""), "time: invalid duration \"\"");
        assert_eq!(err("-"), "time: invalid duration \"-\"");
        assert_eq!(err("1"), "time: missing unit in duration \"1\"");
        assert_eq!(err("1.5"), "time: missing unit in duration \"1.5\"");
        assert_eq!(err("abc"), "time: invalid duration \"abc\"");
        assert_eq!(err(".s"), "time: invalid duration \".s\"");
        assert_eq!(err("1x"), "time: unknown unit \"x\" in duration \"1x\"");
        assert_eq!(err("1d"), "time: unknown unit \"d\" in duration \"1d\"");
        assert_eq!(err("5 s"), "time: unknown unit \" s\" in duration \"5 s\"");
        assert_eq!(err("1sm"), "time: unknown unit \"sm\" in duration \"1sm\"");
        assert_eq!(
            err("3s-1s"),
            "time: unknown unit \"s-\" in duration \"3s-1s\""
        );
        assert_eq!(
            err("1\u{b5}x"),
            "time: unknown unit \"\\xc2\\xb5x\" in duration \"1\\xc2\\xb5x\""
        );
        assert_eq!(
            err("9223372036854775808ns"),
            "time: invalid duration \"9223372036854775808ns\""
        );
        assert_eq!(
            err("99999999999999999999s"),
            "time: invalid duration \"99999999999999999999s\""
        );
        assert_eq!(err("3000000h"), "time: invalid duration \"3000000h\"");
        assert_eq!(
            err("1s\"x"),
            "time: unknown unit \"s\\\"x\" in duration \"1s\\\"x\""
        );
    }

    #[test]
    fn event_shape() {
        let s = Stats::default();
        let v = serde_json::to_string(&Event {
            typ: "stats",
            id: "x",
            data: Some(&s),
        })
        .unwrap();
        assert!(
            v.starts_with(r#"{"type":"stats","id":"x","data":{"cpu":"#),
            "{v}"
        );
        let v = serde_json::to_string(&Event {
            typ: "oom",
            id: "x",
            data: None,
        })
        .unwrap();
        assert_eq!(v, r#"{"type":"oom","id":"x"}"#);
    }
}
