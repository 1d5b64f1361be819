//! The five capability sets. Masks are computed once and applied with one capset(2) call
//! (plus per-cap prctls for the bounding and ambient sets, which have no bulk interface).

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use std::str::FromStr;

/// Bit masks of the five sets.
#[derive(Default, Clone, Copy, Debug, PartialEq)]
pub struct CapMasks {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// Highest capability number the running kernel knows (read once: computing the masks and
/// dropping the bounding set both ask).
pub fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// Converts a capability name (with or without CAP_) to its number.
pub fn cap_number(name: &str) -> Result<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    let cap = caps::Capability::from_str(&full)
        .map_err(|_| anyhow::anyhow!("unknown capability {name:?}"))?;
    Ok(cap.index() as u32)
}

fn mask(set: &Option<Capabilities>, last: u32, unknown: &mut Vec<String>) -> u64 {
    let mut m = 0u64;
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        match cap_number(&name) {
            Ok(n) if n <= last => m |= 1 << n,
            // Newer than the running kernel: ignored with a warning, as runc does.
            _ => unknown.push(name),
        }
    }
    m
}

pub fn masks(c: &LinuxCapabilities) -> CapMasks {
    let last = last_cap();
    let mut unknown = Vec::new();
    let m = CapMasks {
        bounding: mask(c.bounding(), last, &mut unknown),
        effective: mask(c.effective(), last, &mut unknown),
        permitted: mask(c.permitted(), last, &mut unknown),
        inheritable: mask(c.inheritable(), last, &mut unknown),
        ambient: mask(c.ambient(), last, &mut unknown),
    };
    warn_unknown(unknown);
    m
}

/// runc's warning for capability names it cannot apply (unknown to it or to the kernel).
pub fn warn_unknown(mut names: Vec<String>) {
    if names.is_empty() {
        return;
    }
    names.sort();
    names.dedup();
    crate::logging::warn(&format!(
        "ignoring unknown or unavailable capabilities: [{}]",
        names.join(" ")
    ));
}

/// The name of capability number `n` (CAP_CHOWN for 0).
fn cap_name(n: u32) -> String {
    caps::all()
        .into_iter()
        .find(|c| c.index() as u32 == n)
        .map(|c| c.to_string())
        .unwrap_or_else(|| format!("capability {n}"))
}

/// Drops everything outside the bounding set. Needs CAP_SETPCAP, so it runs before the user
/// switch.
pub fn drop_bounding(bounding: u64) -> Result<()> {
    for n in 0..=last_cap() {
        if bounding & (1 << n) == 0
            && unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) } != 0
        {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e)
                    .with_context(|| format!("dropping capability {n} from the bounding set"));
            }
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets effective, permitted and inheritable in one capset(2), then the ambient set. Returns
/// runc's warnings for the ambient caps the kernel refused (not inheritable or permitted):
/// those are skipped, the rest applied.
pub fn apply(m: &CapMasks) -> Result<Vec<String>> {
    let mut not_raised = Vec::new();
    let hdr = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let data = [
        CapData {
            effective: m.effective as u32,
            permitted: m.permitted as u32,
            inheritable: m.inheritable as u32,
        },
        CapData {
            effective: (m.effective >> 32) as u32,
            permitted: (m.permitted >> 32) as u32,
            inheritable: (m.inheritable >> 32) as u32,
        },
    ];
    if unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("capset");
    }
    if unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error()).context("clearing ambient capabilities");
    }
    for n in 0..64u32 {
        if m.ambient & (1 << n) != 0 {
            // The kernel only allows ambient caps that are also permitted and inheritable;
            // runc skips the others with a warning (its words) rather than failing.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    n as libc::c_ulong,
                    0,
                    0,
                )
            };
            if r != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EPERM) {
                    bail!("raising ambient capability {}: {e}", cap_name(n));
                }
                not_raised.push(format!(
                    "can't raise ambient capability {}: {}",
                    cap_name(n),
                    crate::util::errno_text(&e)
                ));
            }
        }
    }
    Ok(not_raised)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(super::cap_number("CAP_KILL").unwrap(), 5);
        assert_eq!(super::cap_number("kill").unwrap(), 5);
        assert_eq!(super::cap_number("NET_BIND_SERVICE").unwrap(), 10);
        assert!(super::cap_number("CAP_NOPE").is_err());
    }
}
