//! Per-step timing for `--debug`: how long each setup step of create/start/run/exec took, on
//! the runtime's side and inside the container's init (runc prints what runs; we also print
//! what each step cost, which is how we keep the hot path honest).
//!
//! Without `--debug` nothing is recorded: `mark` is one relaxed atomic load and a branch, no
//! clock read, no allocation. With it, the runtime's own steps are logged as they happen
//! (`create: cgroup apply took 0.120ms`), while a container process (init or exec child)
//! only buffers its steps and sends them to the runtime with its Ready message: after
//! pivot_root a child must never open the `--log` path itself (it would resolve inside the
//! container), and the runtime logs them as `init[<pid>]: mounts took 1.234ms`.
//!
//! hull is single-threaded (and the children are forks of it), so one recorder per process.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);

struct Recorder {
    /// Logged lines start with this (`create`, `exec`, ...); empty while buffering.
    prefix: String,
    start: Instant,
    last: Instant,
    /// Some: a container process collecting `step micros` lines for its parent.
    buffer: Option<String>,
}

thread_local! {
    static REC: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

fn install(prefix: &str, buffer: Option<String>) {
    let now = Instant::now();
    REC.with(|r| {
        *r.borrow_mut() = Some(Recorder {
            prefix: prefix.to_string(),
            start: now,
            last: now,
            buffer,
        })
    });
    ON.store(true, Ordering::Relaxed);
}

fn millis(micros: u128) -> String {
    format!("{}.{:03}ms", micros / 1000, micros % 1000)
}

/// Starts timing the runtime's own steps of `what` (logged as they happen), if debugging.
pub fn begin(what: &str) {
    if crate::logging::debug_enabled() {
        install(what, None);
    }
}

/// In a freshly cloned container process: from here on, buffer instead of logging (the log
/// path is the host's). Must run before any `mark` in the child.
pub fn begin_in_child() {
    if ON.load(Ordering::Relaxed) {
        install("", Some(String::new()));
    }
}

/// Records that `step` just finished; its time is what passed since the previous mark.
#[inline]
pub fn mark(step: &str) {
    if ON.load(Ordering::Relaxed) {
        record(step, None);
    }
}

/// Like `mark`, with a note on what the step did (e.g. the program that is exec'd).
pub fn mark_with(step: &str, note: &dyn Fn() -> String) {
    if ON.load(Ordering::Relaxed) {
        record(step, Some(&note()));
    }
}

#[cold]
fn record(step: &str, note: Option<&str>) {
    let line = REC.with(|r| {
        let mut r = r.borrow_mut();
        let rec = r.as_mut()?;
        let now = Instant::now();
        let us = now.duration_since(rec.last).as_micros();
        rec.last = now;
        let note = note.map(|n| format!(" ({n})")).unwrap_or_default();
        match &mut rec.buffer {
            Some(b) => {
                // One step per line; the parent renders it. Newlines in notes would split it.
                let _ = writeln!(b, "{us} {step}{}", note.replace('\n', " "));
                None
            }
            None => Some(format!("{}: {step} took {}{note}", rec.prefix, millis(us))),
        }
    });
    if let Some(l) = line {
        crate::logging::debug(&l);
    }
}

/// Logs the total since `begin` (runtime side).
pub fn finish() {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let line = REC.with(|r| {
        let r = r.borrow();
        let rec = r.as_ref()?;
        rec.buffer.is_none().then(|| {
            format!(
                "{}: done in {}",
                rec.prefix,
                millis(rec.start.elapsed().as_micros())
            )
        })
    });
    if let Some(l) = line {
        crate::logging::debug(&l);
    }
}

/// The child's buffered steps, to send to the parent (empty without --debug).
pub fn take_buffer() -> Vec<u8> {
    if !ON.load(Ordering::Relaxed) {
        return Vec::new();
    }
    REC.with(|r| {
        r.borrow_mut()
            .as_mut()
            .and_then(|rec| rec.buffer.as_mut().map(std::mem::take))
            .unwrap_or_default()
            .into_bytes()
    })
}

/// Logs the steps a container process sent (see `take_buffer`) as `<who>: <step> took ...`.
pub fn log_child(who: &str, payload: &[u8]) {
    if payload.is_empty() || !crate::logging::debug_enabled() {
        return;
    }
    for l in String::from_utf8_lossy(payload).lines() {
        let (us, rest) = l.split_once(' ').unwrap_or(("0", l));
        let us: u128 = us.parse().unwrap_or(0);
        let (step, note) = match rest.find(" (") {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        crate::logging::debug(&format!("{who}: {step} took {}{note}", millis(us)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_has_three_decimals() {
        assert_eq!(millis(1234), "1.234ms");
        assert_eq!(millis(5), "0.005ms");
        assert_eq!(millis(0), "0.000ms");
    }

    #[test]
    fn buffered_steps_round_trip() {
        install("", Some(String::new()));
        mark("mounts");
        mark_with("exec", &|| "/bin/true as 0:0".into());
        let b = String::from_utf8(take_buffer()).unwrap();
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines.len(), 2, "{b}");
        assert!(lines[0].ends_with(" mounts"), "{b}");
        assert!(lines[1].ends_with(" exec (/bin/true as 0:0)"), "{b}");
        assert!(lines[0].split(' ').next().unwrap().parse::<u128>().is_ok());
        REC.with(|r| *r.borrow_mut() = None);
        ON.store(false, Ordering::Relaxed);
    }
}
