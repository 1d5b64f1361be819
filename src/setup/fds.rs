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

/// Closes every fd from `first` upward except `keep`: run in the new init right after the
/// clone, so a caller's stray fd (one not marked close-on-exec) is not held by a container
/// that may wait long for `start`, and never reaches a hook or the container.
pub fn close_all_but(first: u32, keep: &[i32]) {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|&&fd| fd >= first as i32)
        .map(|&fd| fd as u32)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut lo = first;
    for k in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if k > lo {
            let hi = if k == u32::MAX { u32::MAX } else { k - 1 };
            let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) };
            if r != 0 {
                // close_range predates every kernel we support; a scan as a last resort.
                close_by_scan(lo, hi);
            }
        }
        lo = k.saturating_add(1);
    }
}

fn close_by_scan(lo: u32, hi: u32) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds.into_iter().filter(|fd| (lo..=hi).contains(fd)) {
        unsafe { libc::close(fd as i32) };
    }
}
