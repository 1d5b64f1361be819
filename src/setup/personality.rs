//! `linux.personality`: the execution domain (personality(2)) of the container's processes,
//! set before exec; `LINUX32` makes `uname -m` report a 32-bit machine.

use anyhow::{bail, Result};
use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain as Domain};

const PER_LINUX: libc::c_ulong = 0x0000;
const PER_LINUX32: libc::c_ulong = 0x0008;

/// runtime-spec 1.3.0 defines no personality flags ("Currently no flag values are
/// supported"); runc warns and drops them. A flag would change how the program runs, so
/// hull refuses it rather than run without it.
pub fn check(p: &LinuxPersonality) -> Result<()> {
    if let Some(f) = p.flags().as_ref().filter(|f| !f.is_empty()) {
        bail!(
            "linux.personality.flags {f:?}: runtime-spec defines no personality flags and hull does not apply any"
        );
    }
    Ok(())
}

pub fn apply(p: &LinuxPersonality) -> Result<()> {
    let persona = match p.domain() {
        Domain::PerLinux => PER_LINUX,
        Domain::PerLinux32 => PER_LINUX32,
    };
    if unsafe { libc::personality(persona) } == -1 {
        let e = std::io::Error::last_os_error();
        bail!(
            "setting personality {}: {}",
            p.domain(),
            crate::util::errno_text(&e)
        );
    }
    Ok(())
}
