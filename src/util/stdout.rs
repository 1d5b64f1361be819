//! Writing command output to stdout without Rust's panic on a closed pipe.
//!
//! `print!` panics when stdout is a broken pipe (`hull state x | head -c1`), because Rust's
//! runtime ignores SIGPIPE. runc, a Go program, dies of SIGPIPE there, silently: callers and
//! shells expect exactly that, so hull does the same.

use std::io::Write;

/// Writes formatted output to stdout and flushes it. A broken pipe ends hull by SIGPIPE as it
/// ends runc; any other write error is returned.
pub fn write(args: std::fmt::Arguments) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => die_of_sigpipe(),
        Err(e) => Err(anyhow::anyhow!(e).context("writing to stdout")),
    }
}

/// Restores SIGPIPE's default action and sends it to ourselves: the process ends the way a
/// Go program (runc) ends on a broken stdout. kill(getpid()), not raise(): musl's raise()
/// addresses a thread id cached at startup, stale in a process made by a raw clone3.
pub fn die_of_sigpipe() -> ! {
    // SAFETY: restoring a signal's default action and signalling ourselves are always allowed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::kill(libc::getpid(), libc::SIGPIPE);
    }
    // SIGPIPE may be blocked (a caller's mask is inherited): end as it would have.
    std::process::exit(128 + libc::SIGPIPE)
}

/// `print!` to stdout through [`write`]; evaluates to its `Result`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::util::stdout::write(format_args!($($arg)*)) };
}

/// `println!` to stdout through [`write`]; evaluates to its `Result`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::util::stdout::write(format_args!("{}\n", format_args!($($arg)*))) };
}
