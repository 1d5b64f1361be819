//! Signal names and numbers as `kill` accepts them: KILL, SIGKILL, 9, RTMIN+3, SIGRTMAX-1, 37.

use anyhow::{bail, Result};

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Kernel real-time signal range (glibc reserves the first two for itself, but the container's
/// program may use any of them, and runc accepts the kernel's numbering).
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

pub fn parse(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        // 0 is the null signal: kill(2) only checks that the target exists. runc passes it on
        // (its own tests probe a stopped container with `kill [-a] <id> 0`).
        if (0..=RTMAX).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal number {n}");
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = NAMES.iter().find(|(nm, _)| *nm == name) {
        return Ok(n);
    }
    let rt = |base: i32, rest: &str| -> Option<i32> {
        if rest.is_empty() {
            return Some(base);
        }
        // Split after the first character, not byte: `RTMINé` must be an error, not a panic.
        let (sign, num) = rest.split_at(rest.chars().next().map_or(0, char::len_utf8));
        let off: i32 = num.parse().ok()?;
        let n = if sign == "+" {
            base + off
        } else if sign == "-" {
            base - off
        } else {
            return None;
        };
        (RTMIN..=RTMAX).contains(&n).then_some(n)
    };
    let found = if let Some(rest) = name.strip_prefix("RTMIN") {
        rt(RTMIN, rest)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        rt(RTMAX, rest)
    } else {
        None
    };
    match found {
        Some(n) => Ok(n),
        None => bail!("unknown signal {s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn forms() {
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("SIGTERM").unwrap(), 15);
        assert_eq!(parse("sigusr1").unwrap(), 10);
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("37").unwrap(), 37);
        assert_eq!(parse("RTMIN+3").unwrap(), 37);
        assert_eq!(parse("SIGRTMIN+3").unwrap(), 37);
        assert_eq!(parse("SIGRTMAX-1").unwrap(), 63);
        assert!(parse("NOPE").is_err());
        assert_eq!(parse("0").unwrap(), 0);
        assert!(parse("-1").is_err());
        assert!(parse("65").is_err());
        assert!(parse("RTMIN+40").is_err());
        assert!(parse("RTMINé").is_err());
        assert!(parse("SIGRTMAXéé").is_err());
    }
}
