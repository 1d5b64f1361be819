//! Process identity through /proc and pidfds. A pid alone can be reused by an unrelated process,
//! so we always pair it with the process start time recorded at create.

use std::os::fd::{FromRawFd, OwnedFd};

/// Fields of /proc/<pid>/stat we need.
pub struct ProcStat {
    /// One-letter state (R, S, D, Z, T, X, ...).
    pub state: char,
    /// Start time in clock ticks since boot (field 22).
    pub start_time: u64,
}

/// Reads /proc/<pid>/stat. None when the process does not exist.
pub fn stat(pid: i32) -> Option<ProcStat> {
    let data = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&data)
}

/// Parses the text of /proc/<pid>/stat. The command name (field 2) is whatever the process
/// set with prctl(PR_SET_NAME): spaces, parentheses, bytes that are not UTF-8. So it is not
/// decoded at all (a container process must not be able to look dead to us), and the fields
/// start after the last ')'.
pub fn parse_stat(data: &[u8]) -> Option<ProcStat> {
    let close = data.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&data[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3), start_time is field 22: skip fields 4..=21.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// True when `pid` is the same live (non-zombie) process that started at `start_time`.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match stat(pid) {
        Some(s) => s.start_time == start_time && s.state != 'Z' && s.state != 'X',
        None => false,
    }
}

/// True when some live (non-zombie) process has `pid`, whatever it is.
pub fn exists(pid: i32) -> bool {
    pid > 0 && stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// Opens a pidfd for `pid` (so signals cannot hit a recycled pid).
pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `sig` through a pidfd.
pub fn pidfd_send_signal(fd: &OwnedFd, sig: i32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until the process behind the pidfd has exited, or the timeout passes. Returns true on exit.
pub fn pidfd_wait_exit(fd: &OwnedFd, timeout_ms: i32) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return r > 0;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_stat() {
        let me = std::process::id() as i32;
        let s = super::stat(me).unwrap();
        assert!(s.start_time > 0);
        assert!(super::is_alive(me, s.start_time));
        assert!(!super::is_alive(me, s.start_time + 1));
    }

    /// What a process can put in its own name (prctl PR_SET_NAME takes any 15 bytes).
    #[test]
    fn stat_with_any_command_name() {
        let tail = b" S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 20 21\n";
        for comm in [
            &b"sh"[..],
            b"a) R 9 (b",
            b"\xff\xfe)(",
            b")",
            b"",
            b"x y  z",
        ] {
            let line = [&b"77 ("[..], comm, b")", tail].concat();
            let s = super::parse_stat(&line).unwrap_or_else(|| panic!("{line:?}"));
            assert_eq!((s.state, s.start_time), ('S', 4242), "{line:?}");
        }
    }

    /// Truncated or garbled files give None, never a panic.
    #[test]
    fn stat_parser_survives_random_input() {
        use crate::util::fuzz::{mutate, run, Rng};
        let good = b"77 (sh) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 20 21\n".to_vec();
        run(
            "proc stat",
            0x7374_6174,
            10_000,
            std::time::Duration::from_secs(10),
            {
                move |rng: &mut Rng, rec: &crate::util::fuzz::Recorder| {
                    let mut b = if rng.chance(4) {
                        rng.bytes(128)
                    } else {
                        good.clone()
                    };
                    for _ in 0..rng.below(6) {
                        mutate(rng, &mut b);
                    }
                    rec.set(&b);
                    let _ = super::parse_stat(&b);
                }
            },
        );
    }
}
