//! Error and debug logging in runc's formats. containerd and CRI-O pass `--log FILE
//! --log-format json` and show the last `error` line to the user, so the shape of these lines
//! is part of our interface.

use crate::util::time::rfc3339_now;
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    path: Option<String>,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// In a container process hull forked (init, exec child), where the log path may name a file
/// inside the container after pivot_root: lines go to the parent instead, which logs them.
static FORWARDER: OnceLock<Forwarder> = OnceLock::new();

/// Sends one line (level, message); false when it could not be delivered.
pub type Forwarder = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Sends every later log line through `f(level, msg)`; when it returns false (the parent is
/// gone), the line goes to stderr.
pub fn forward(f: Forwarder) {
    let _ = FORWARDER.set(f);
}

/// Checks that the `--log` file can be opened (runc fails on an unopenable one with
/// `open <path>: <error>`); later lines open it again each time.
pub fn check_log_file(path: &str) -> anyhow::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
        .map_err(|e| anyhow::anyhow!("open {path}: {}", crate::util::errno_text(&e)))
}

/// Logs a line a child forwarded, as if it were ours.
pub fn log_forwarded(level: &str, msg: &str) {
    write_line(level, msg);
}

pub fn init(path: Option<String>, format: Format, debug: bool) {
    let _ = LOGGER.set(Logger {
        path,
        format,
        debug,
    });
}

fn render(format: Format, level: &str, msg: &str) -> String {
    match format {
        Format::Json => {
            let obj = serde_json::json!({"level": level, "msg": msg, "time": rfc3339_now()});
            format!("{obj}\n")
        }
        Format::Text => {
            let quoted = serde_json::to_string(msg).unwrap_or_default();
            format!("time=\"{}\" level={level} msg={quoted}\n", rfc3339_now())
        }
    }
}

fn write_line(level: &str, msg: &str) {
    // Errors found before the flags are parsed still get reported, in the default format.
    let l = LOGGER.get_or_init(|| Logger {
        path: None,
        format: Format::Text,
        debug: false,
    });
    if let Some(f) = FORWARDER.get() {
        if f(level, msg) {
            return;
        }
        let _ = std::io::stderr().write_all(render(l.format, level, msg).as_bytes());
        return;
    }
    let line = render(l.format, level, msg);
    match &l.path {
        // Append with a single write so concurrent writers (shim, several hull calls) don't interleave.
        Some(p) => {
            if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(p) {
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Reports a fatal error: the log line (in the chosen format) goes to the log file, or to
/// stderr when there is none; with a log file, stderr also gets the plain message so a
/// person running hull by hand still sees it.
pub fn error(msg: &str) {
    write_line("error", msg);
    if LOGGER.get().is_some_and(|l| l.path.is_some()) {
        let _ = writeln!(std::io::stderr(), "{msg}");
    }
}

pub fn warn(msg: &str) {
    write_line("warning", msg);
}

pub fn debug_enabled() -> bool {
    LOGGER.get().is_some_and(|l| l.debug)
}

pub fn debug(msg: &str) {
    if debug_enabled() {
        write_line("debug", msg);
    }
}
