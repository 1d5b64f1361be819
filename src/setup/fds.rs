//! File descriptors crossing into the container: only stdio, the preserved range (runc's
//! --preserve-fds and socket-activation LISTEN_FDS) and nothing else.

/// Marks every fd from `3 + preserved` upward close-on-exec and makes the preserved range
/// inheritable, except hull's own fds, which stay close-on-exec wherever they landed.
pub fn prepare_for_exec(preserved: u32, own: &[i32]) {
    let first_closed = 3 + preserved;
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first_closed,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r != 0 {
        // close_range(CLOEXEC) predates every kernel we support; fall back to a scan anyway.
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            for fd in dir
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            {
                if fd >= first_closed as i32 {
                    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
                }
            }
        }
    }
    for fd in 3..first_closed as i32 {
        if !own.contains(&fd) {
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        }
    }
}

/// Socket-activation fds handed to us (LISTEN_FDS with LISTEN_PID naming this process).
pub fn listen_fds() -> u32 {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !pid_ok {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Stdio that is the host's /dev/null is replaced by the container's own /dev/null (after
/// pivot_root), as runc's init does: an fd on a host mount that is not in the container's
/// mount namespace cannot be checkpointed by CRIU. Costs three fstat calls when no stdio is
/// /dev/null.
pub fn reopen_dev_null() -> anyhow::Result<()> {
    let is_null = |st: &libc::stat| {
        st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3)
    };
    let mut ours: Option<libc::stat> = None;
    for fd in 0..3 {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 || !is_null(&st) {
            continue;
        }
        let own = match ours {
            Some(o) => o,
            None => {
                let mut o: libc::stat = unsafe { std::mem::zeroed() };
                if unsafe { libc::stat(c"/dev/null".as_ptr(), &mut o) } != 0 || !is_null(&o) {
                    return Ok(()); // no usable /dev/null in the container: leave stdio alone
                }
                *ours.insert(o)
            }
        };
        if st.st_dev == own.st_dev && st.st_ino == own.st_ino {
            continue;
        }
        let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if null < 0 {
            anyhow::bail!("reopening /dev/null: {}", std::io::Error::last_os_error());
        }
        let r = unsafe { libc::dup3(null, fd, 0) };
        unsafe { libc::close(null) };
        if r < 0 {
            anyhow::bail!("reopening /dev/null: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}
