//! The scenarios of tests/clients_sid.rs, one module per client. They reuse the Debian 12
//! harness (`crate::harness`: temp dirs, bounded commands, the busybox image, containerd's
//! daemon guard) and add what the newer clients need.

#![allow(dead_code)]

mod buildah;
pub mod containerd2;
pub mod cri;
mod cri_tests;
pub mod docker;
mod docker_tests;
mod podman5;

use std::time::Duration;

/// Bound for any wait on a container state in these tests.
pub const WAIT: Duration = Duration::from_secs(30);

/// The reason every test here is ignored on the host.
pub const NEEDS_SID: &str = "needs the sid root: make test-sid";
