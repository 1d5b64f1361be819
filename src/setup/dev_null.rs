//! The container's stdio and /dev/null: stdio that is the host's /dev/null is replaced by
//! the container's own (as runc's init does).

/// Stdio that is the host's /dev/null is replaced by the container's own /dev/null (after
/// pivot_root), as runc's init does: an fd on a host mount that is not in the container's
/// mount namespace cannot be checkpointed by CRIU. Costs three fstat calls when no stdio is
/// /dev/null.
pub fn reopen_for_stdio() -> anyhow::Result<()> {
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
