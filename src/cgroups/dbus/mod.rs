//! A small, blocking D-Bus client: just what the systemd cgroup driver needs.
//!
//! - Transport: a Unix stream socket, either systemd's private peer-to-peer socket
//!   (/run/systemd/private, root only, no bus daemon and no `Hello`) or the system bus.
//! - Authentication: SASL `EXTERNAL` with the caller's uid (as ASCII decimal, hex-encoded).
//! - Marshalling: little-endian, the basic types y b n q i u x t d h s o g, variants, arrays
//!   (including dict entries) and structs, with the alignment rules of the D-Bus specification
//!   (alignment is relative to the start of the message; the body starts 8-aligned).
//! - Calls: method calls wait for the reply with the matching serial; an error reply becomes a
//!   [`DbusError`] (name and message) inside the anyhow error, so callers can test its name.
//!   Signals that arrive while waiting are queued for [`Conn::wait_signal`].
//!
//! No unix fd passing, no big-endian peers, no introspection.

mod conn;
mod marshal;
mod message;
mod value;

pub use conn::Conn;
pub use message::{error_name, Message};
pub use value::Value;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz_tests;
