//! hull: a fast, runc-compatible OCI container runtime.
//!
//! Layout: `cli` parses runc's command line → `spec` loads and validates config.json →
//! `state` is the container state store → `process` creates container processes (clone3,
//! handshake, init) → `setup` holds the in-child steps (namespaces, rootfs, devices, process
//! attributes, security) → `cgroups` holds the cgroup managers → `hooks` runs OCI hooks.

mod cgroups;
mod cli;
mod commands;
mod hooks;
mod logging;
mod process;
mod seccomp;
mod setup;
mod spec;
mod state;
mod steps;
mod util;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(cli::main(&argv));
}
