//! Helpers shared by the runtime-spec 1.2/1.3 field tests (`spec13_*.rs`): running a
//! container that must succeed or be refused, a sleeping container to `exec` into with a
//! process.json, and whether a runc under test claims a `features` entry.
//! Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use hull_conformance::*;
use serde_json::{json, Value};
use std::fs;
use std::process::Output;
use std::time::Duration;

pub const T: Duration = Duration::from_secs(10);

/// Field `n` (1-based, as in proc(5)) of a /proc/<pid>/stat line.
pub fn stat_field(stat: &str, n: usize) -> i64 {
    let rest = stat.rsplit_once(')').expect("stat has a comm").1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[n - 3].parse().expect("numeric stat field")
}

/// (policy, nice, rt_priority) of a /proc/<pid>/stat line.
pub fn sched_of(stat: &str) -> (i64, i64, i64) {
    (
        stat_field(stat, 41),
        stat_field(stat, 19),
        stat_field(stat, 40),
    )
}

/// `run` of `args` in a fresh container of `b`, asserting exit 0; returns stdout.
#[track_caller]
pub fn run_ok(rt: &Runtime, b: &mut Bundle, args: &[&str]) -> String {
    let (code, out, err) = run_container(rt, b, args);
    assert_eq!(code, 0, "{args:?}: stdout={out:?} stderr={err:?}");
    out
}

/// `run` that must fail before the program runs: exit 1, an error naming `word`, no state.
/// crun's errors name the failed call, not the config field ("sched_setattr: Invalid
/// argument", "failed to set io priority: ..."), so `word` is not checked for crun.
#[track_caller]
pub fn run_refused(rt: &Runtime, b: &mut Bundle, word: &str) {
    let (code, out, err) = run_container(rt, b, &["true"]);
    assert_eq!(code, 1, "expected a refusal: stdout={out:?} stderr={err:?}");
    if !is_crun() {
        assert!(err.contains(word), "error does not name {word:?}: {err:?}");
    }
    assert!(
        rt.ids_in_root().is_empty(),
        "state left behind: {:?}",
        rt.ids_in_root()
    );
}

/// A started container of `b` (saved first) running `sleep 1000`.
pub fn sleeper<'a>(rt: &'a Runtime, b: &'a Bundle) -> Container<'a> {
    let c = Container::new(rt, b);
    c.create().start();
    c
}

/// Sets `b` up for [`sleeper`].
pub fn sleep_args(b: &mut Bundle) {
    b.set_args(&["sleep", "1000"]);
    b.save();
}

/// `exec --process <file> <id>` with the container's process, `args` and `extra` fields.
pub fn exec_process(
    rt: &Runtime,
    b: &Bundle,
    c: &Container,
    args: &[&str],
    extra: Value,
) -> Output {
    let mut p = b.config["process"].clone();
    p["args"] = json!(args);
    for (k, v) in extra.as_object().expect("extra is an object") {
        p[k] = v.clone();
    }
    let dir = TempDir::new("proc");
    let file = dir.path().join("process.json");
    fs::write(&file, serde_json::to_vec(&p).unwrap()).unwrap();
    rt.run(&["exec", "--process", file.to_str().unwrap(), &c.id])
}

#[track_caller]
pub fn ok_stdout(o: &Output, what: &str) -> String {
    assert_ok(o, what);
    stdout_str(o)
}

/// Whether the runtime claims the `features` entry at `pointer` (a JSON pointer). hull must
/// claim what these tests check; runc 1.3.6 implements runtime-spec 1.2.1 (its ociVersionMax)
/// and runs containers without linux.memoryPolicy and linux.netDevices (runc 1.4 has them),
/// so those tests are skipped for a runc that does not claim the feature.
pub fn claims(rt: &Runtime, pointer: &str) -> bool {
    let f: Value = serde_json::from_str(&ok_stdout(&rt.run(&["features"]), "features")).unwrap();
    let claimed = f
        .pointer(pointer)
        .is_some_and(|v| !v.is_null() && *v != json!(false));
    if !claimed && is_runc() {
        eprintln!("skipped: this runc does not claim {pointer} in features");
    }
    claimed || !is_runc()
}
