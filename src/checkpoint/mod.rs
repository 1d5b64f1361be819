//! Checkpoint and restore of containers with CRIU, the way runc does it: `criu swrk` RPC
//! (swrk), the version and feature checks (version), runc's flags (options), the request
//! parts both share (request), external mounts (mounts), and the two operations (dump,
//! restore). The command glue that loads and records containers is in commands/.

pub mod dump;
pub mod mounts;
pub mod options;
pub mod request;
pub mod restore;
pub mod swrk;
pub mod version;

use std::path::Path;

/// Whether a working CRIU (answering its version RPC, new enough) is at `criu`: what
/// `features` reports as org.opencontainers.runc.checkpoint.enabled.
pub fn available(criu: &Path) -> bool {
    match version::check(criu) {
        Ok(_) => true,
        Err(e) => {
            crate::logging::debug(&format!("checkpoint/restore unavailable: {e:#}"));
            false
        }
    }
}
