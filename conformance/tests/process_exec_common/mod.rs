//! Helpers shared by the process and `exec` tests (`process_exec.rs`, `process_join.rs`):
//! `exec` into a container with flags before `--`.
//! Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use hull_conformance::*;
use std::process::Output;
use std::time::Duration;

pub const T: Duration = Duration::from_secs(10);

pub fn exec(rt: &Runtime, id: &str, args: &[&str]) -> Output {
    let (flags, cmd) = split_flags(args);
    let mut v = vec!["exec"];
    v.extend(flags);
    v.push(id);
    v.extend(cmd);
    rt.run(&v)
}

/// Splits `["--cap", "X", "--", "cmd", ...]` into the flags and the command.
pub fn split_flags<'a>(args: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
    match args.iter().position(|a| *a == "--") {
        Some(i) => (args[..i].to_vec(), args[i + 1..].to_vec()),
        None => (Vec::new(), args.to_vec()),
    }
}

#[track_caller]
pub fn exec_ok(rt: &Runtime, id: &str, args: &[&str]) -> String {
    let o = exec(rt, id, args);
    assert_ok(&o, &format!("exec {args:?}"));
    stdout_str(&o)
}
