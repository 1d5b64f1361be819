//! process.rlimits.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::PosixRlimit;

/// setrlimit's resource type: an enum type in glibc, int in musl.
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn resource(name: &str) -> Result<Resource> {
    Ok(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        other => bail!("unknown rlimit type {other:?}"),
    })
}

/// Applies the limits to process `pid` (None: ourselves). Raising a hard limit needs
/// CAP_SYS_RESOURCE in the host's user namespace; without it the kernel refuses and so do we
/// (as runc does), naming the limit. A user-namespaced init never has it, so its parent sets
/// its limits (see process::launch), as runc's does.
pub fn apply(pid: Option<i32>, limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let name = serde_json::to_value(l.typ())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let res = resource(&name)?;
        let lim = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        let r = unsafe { libc::prlimit(pid.unwrap_or(0), res, &lim, std::ptr::null_mut()) };
        if r != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setrlimit {name} soft={} hard={}", l.soft(), l.hard()));
        }
    }
    Ok(())
}
