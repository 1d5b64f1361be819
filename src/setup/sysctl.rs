//! linux.sysctl, written through the container's /proc/sys (validated at load time to be
//! namespaced keys only).

use anyhow::Result;
use std::collections::HashMap;
use std::path::PathBuf;

pub fn apply(sysctls: &HashMap<String, String>) -> Result<()> {
    for (k, v) in sysctls {
        let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        crate::util::fs::write_value(&path, v)?;
    }
    Ok(())
}
