//! Creating container processes: the parent side (launch), the child side (init), the
//! handshake between them (sync) and the clone3 wrapper.
//!
//! The model: `create` clones the container init once, directly into its new namespaces. The
//! init sets itself up, reports Ready, and then blocks opening `exec.fifo` until `start` opens
//! the other end; then it execs the user program. `create` exits as soon as the init is
//! Ready, so the init is reparented to the caller (or its subreaper). No runtime process stays
//! behind, and `start`/`state`/`kill`/`delete` never re-exec anything.

pub mod clone;
pub mod exec;
pub mod idmap;
pub mod init;
pub mod launch;
pub mod mount_source;
pub mod sync;
