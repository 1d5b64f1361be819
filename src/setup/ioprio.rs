//! `process.ioPriority`: the I/O scheduling class and level, set with ioprio_set(2) on the
//! process itself before it becomes the program (the container init and `exec`).

use anyhow::{bail, Result};
use oci_spec::runtime::{IOPriorityClass as Class, LinuxIOPriority};

const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_SHIFT: u32 = 13;

fn class_number(c: Class) -> u32 {
    match c {
        Class::IoprioClassRt => 1,
        Class::IoprioClassBe => 2,
        Class::IoprioClassIdle => 3,
    }
}

/// runc's rule and words: the level is 0 (highest) to 7 (lowest) in every class.
pub fn check(p: &LinuxIOPriority) -> Result<()> {
    if !(0..=7).contains(&p.priority()) {
        bail!("invalid ioPriority.Priority: {}", p.priority());
    }
    Ok(())
}

/// The value ioprio_set takes: class in the top bits, level in the low ones.
fn value(p: &LinuxIOPriority) -> u32 {
    class_number(p.class()) << IOPRIO_CLASS_SHIFT | p.priority() as u32
}

pub fn apply(p: &LinuxIOPriority) -> Result<()> {
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value(p)) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        bail!("failed to set io priority: {}", crate::util::errno_text(&e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIOPriorityBuilder;

    #[test]
    fn encoding_and_range() {
        let p = LinuxIOPriorityBuilder::default()
            .class(Class::IoprioClassIdle)
            .priority(7)
            .build()
            .unwrap();
        assert_eq!(value(&p), 3 << 13 | 7);
        check(&p).unwrap();
        let bad = LinuxIOPriorityBuilder::default()
            .priority(8)
            .build()
            .unwrap();
        assert!(check(&bad).is_err());
    }
}
