//! End-to-end tests of the runtime under the 2026 client stack, from the Debian sid root
//! (conformance/sid/make-root.sh): containerd 2.1 (ctr and its CRI plugin), podman 5,
//! docker 28 and buildah 1.43. The Debian 12 generation (containerd 1.6, podman 4) is
//! tests/clients.rs; both must pass.
//!
//! Every test here is `#[ignore]`d on the host: the clients exist only in the sid root.
//! `make test-sid` builds the root and runs them inside it (conformance/sid/enter.sh) with the
//! built hull bound at /usr/local/bin/hull; `make test-sid SID_RUNTIME=/usr/bin/runc` checks
//! the tests themselves against runc 1.3.6. By hand:
//!
//! ```text
//! HULL_SID_BIND=$PWD HULL_BIN=$PWD/target/debug/hull conformance/sid/enter.sh \
//!     env HULL_BIN=/usr/local/bin/hull target/debug/deps/clients_sid-<hash> --ignored
//! ```
//!
//! Knobs are those of tests/clients.rs (`HULL_CLIENTS_TRACE`, `HULL_CLIENTS_KEEP`, ...).

#[path = "clients/mod.rs"]
mod harness;

#[path = "clients_sid/mod.rs"]
mod sid;
