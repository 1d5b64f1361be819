//! hull: a fast, runc-compatible OCI container runtime.
//!
//! Layout: `cli` parses runc's command line → `spec` loads and validates config.json →
//! `state` is the container state store → `process` creates container processes (clone3,
//! handshake, init) → `setup` holds the in-child steps (namespaces, rootfs, devices, process
//! attributes, security) → `cgroups` holds the cgroup managers → `hooks` runs OCI hooks.

mod cgroups;
mod checkpoint;
mod cli;
mod commands;
mod hooks;
mod logging;
mod process;
mod rootless;
mod seccomp;
mod setup;
mod spec;
mod state;
mod steps;
mod util;

// Unit tests use util::fuzz's counting wrapper around it instead.
#[cfg(not(test))]
#[global_allocator]
static ALLOC: util::alloc::BumpThenSystem = util::alloc::BumpThenSystem;

fn main() {
    // Every anyhow error captures a backtrace when RUST_BACKTRACE is set in the caller's
    // environment, and the first capture in a static binary sorts all of its unwind tables:
    // ~5 ms on every failing command (`state`/`delete` of a missing container, which shims
    // call often). hull never prints those backtraces (errors are one line), so never take
    // them. Single-threaded here, so changing the environment is safe; hooks and container
    // processes get their environment from the config, not from ours.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    util::panic::install();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(cli::main(&argv));
}
