//! The scenarios of tests/clients_sid.rs, one module per client. They reuse the Debian 12
//! harness (`crate::harness`: temp dirs, bounded commands, the busybox image, containerd's and
//! podman's guards, the checks both generations share) and add what the newer clients need.
//!
//! # How the 2026 clients invoke the runtime (observed with `HULL_CLIENTS_TRACE`)
//!
//! containerd 2.1's runc shim (ctr, its CRI plugin, and dockerd's containerd) calls what
//! containerd 1.6's does (see tests/clients/mod.rs) plus `features` once per shim, and docker's
//! `update` reads the resources from stdin (`update --resources=- <id>`). The CRI plugin passes
//! the handler's `Root` option as `--root <Root>/k8s.io`; after a container that shares the
//! pod's pid namespace exits, the shim sends `kill --all <id> 9` to the stopped container
//! (issue 13), then `delete` and `delete --force`.
//!
//! podman 5 + conmon 2.1 call what podman 4 does, plus `update --resources=<file> <id>`.
//!
//! buildah 1.43 (`--isolation oci`), no `--root` (the runtime's default state dir):
//! `create --bundle <dir> --pid-file <dir>/pid buildah-<n>`, `start`, `state`, `delete`.

#![allow(dead_code)]

mod buildah;
mod cni;
pub mod containerd2;
pub mod cri;
mod cri_tests;
mod cri_userns;
pub mod docker;
mod docker_tests;
mod podman5;

use std::time::Duration;

/// Bound for any wait on a container state in these tests.
pub const WAIT: Duration = Duration::from_secs(30);
