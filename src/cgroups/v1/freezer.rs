//! Freezing a v1 cgroup, which can stall in FREEZING while its tasks keep forking.

use super::V1Manager;
use crate::cgroups::util;
use anyhow::{bail, Result};
use std::path::Path;
use std::time::Duration;

impl V1Manager {
    pub(super) fn freeze_v1(dir: &Path) -> Result<()> {
        // A v1 freeze can get stuck in FREEZING while tasks keep forking: re-request it, and
        // now and then thaw briefly to let stragglers settle (runc does the same dance).
        for i in 0..1000u32 {
            if i % 50 == 49 {
                let _ = util::write(dir, "freezer.state", "THAWED");
                std::thread::sleep(Duration::from_millis(10));
            }
            util::write(dir, "freezer.state", "FROZEN")?;
            if i % 25 == 24 {
                std::thread::sleep(Duration::from_micros(10));
            }
            let st = util::read(dir, "freezer.state")?;
            match st.trim() {
                "FROZEN" => return Ok(()),
                "FREEZING" => continue,
                other => bail!("unexpected freezer state {other:?} while freezing"),
            }
        }
        let _ = util::write(dir, "freezer.state", "THAWED");
        bail!("unable to freeze cgroup {}", dir.display())
    }
}
