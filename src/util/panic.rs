//! How hull ends on a panic (a bug: hull must not panic on any input).
//!
//! The release build is panic=abort and static musl. musl's abort() raises SIGABRT with the
//! thread id it cached at startup, and the container init and exec'd processes are made with
//! a raw clone3 (the cache is not updated there): in those children abort() would signal
//! the hull process that cloned them instead. So after Rust's default hook has printed the
//! message, end the process that panicked by SIGABRT ourselves, and on musl replace abort()
//! itself for the runtime's other aborts.

/// Installs the hook; call once at startup, before any clone.
pub fn install() {
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        print(info);
        abort_self()
    }));
}

/// musl's abort(), replaced: Rust's runtime calls it for more than panics (a failed
/// allocation, a stack overflow, a fatal runtime error), and musl's raises SIGABRT at the
/// thread id cached at startup, which in a raw clone3 child is the parent's (the parent got
/// SIGABRT, the child a SIGSEGV). The static link takes this definition instead of libc.a's.
#[cfg(target_env = "musl")]
#[unsafe(no_mangle)]
pub extern "C" fn abort() -> ! {
    abort_self()
}

/// Ends the calling process by SIGABRT, as abort() would, addressed by getpid() (a syscall
/// in glibc and musl, never a cached value).
fn abort_self() -> ! {
    // SAFETY: a signal's default action, unblocking and kill on ourselves are always allowed.
    unsafe {
        libc::signal(libc::SIGABRT, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGABRT);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), libc::SIGABRT);
        libc::_exit(128 + libc::SIGABRT)
    }
}
