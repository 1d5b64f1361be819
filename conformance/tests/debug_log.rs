//! `--debug`: runc-shaped debug lines (logrus text on stderr, or `--log` in text or json) for
//! create, start, run, exec and delete. hull's lines also say what each setup step took, on the
//! runtime's side (`create: cgroup create and apply took 0.120ms`) and inside the container's
//! init or exec'd process (`init[<pid>]: pivot_root took 0.052ms`), which the child buffers
//! and the runtime logs. Without `--debug` nothing extra is written anywhere.
//!
//! The shape checks (every line a well-formed logrus line, json lines parse, debug lines only
//! with --debug) hold for runc 1.3.6 too; the step lines are hull's own (runc prints no timings).

use hull_conformance::*;
use serde_json::Value;
use std::fs;
use std::process::{Output, Stdio};
use std::time::Duration;

/// A busybox bundle running `args`, with its own test cgroup. No ambient capabilities: the
/// default config's are not inheritable, which runc (rightly) warns about on every start.
fn bundle(id: &str, args: &[&str]) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_cgroups_path(&test_cgroups_path(id));
    b.set_args(args);
    if let Some(caps) = b.config["process"]["capabilities"].as_object_mut() {
        caps.remove("ambient");
    }
    b.save();
    b
}

/// Runs the runtime with stdin and stdout on /dev/null (a create's init keeps them open),
/// stderr captured.
fn run_quiet(rt: &Runtime, args: &[&str]) -> Output {
    let mut c = rt.cmd(args);
    c.stdin(Stdio::null()).stdout(Stdio::null());
    output_with_timeout(&mut c, budget(Duration::from_secs(30)))
}

/// Parses one logrus text line `time="..." level=debug msg="..." [key=value...]` into
/// (level, msg); None if it is not one.
fn parse_text_line(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("time=\"")?;
    let (time, rest) = rest.split_once("\" level=")?;
    if !time.ends_with('Z') || !time.contains('T') {
        return None;
    }
    let (level, rest) = rest.split_once(" msg=")?;
    // msg is a Go-quoted string; it is JSON-compatible for what we print
    let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
    let msg = de.next()?.ok()?;
    let tail = &rest[de.byte_offset()..];
    if !(tail.is_empty() || tail.starts_with(' ')) {
        return None;
    }
    Some((level.to_string(), msg))
}

const LEVELS: [&str; 4] = ["debug", "info", "warning", "error"];

/// Every line of `text` must be a logrus text line; returns the debug messages.
#[track_caller]
fn debug_messages_text(text: &str, what: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| match parse_text_line(l) {
            Some((level, msg)) => {
                assert!(LEVELS.contains(&level.as_str()), "{what}: bad level: {l:?}");
                (level == "debug").then_some(msg)
            }
            None => panic!("{what}: not a logrus text line: {l:?}\nall:\n{text}"),
        })
        .collect()
}

/// Every line of `text` must be a JSON object with level, msg and time; returns the debug
/// messages. crun pretty-prints each object over several lines (a JSON stream, which is what
/// containerd's shim decodes); runc and hull write one a line.
#[track_caller]
fn debug_messages_json(text: &str, what: &str) -> Vec<String> {
    let entries: Vec<Value> = if is_crun() {
        serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .map(|v| v.unwrap_or_else(|e| panic!("{what}: not a JSON stream ({e}):\n{text}")))
            .collect()
    } else {
        text.lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{what}: line is not JSON ({e}): {l:?}\n{text}"))
            })
            .collect()
    };
    entries
        .into_iter()
        .filter_map(|v| {
            assert!(
                v["time"].as_str().is_some_and(|t| t.ends_with('Z')),
                "{what}: {v}"
            );
            let level = v["level"].as_str().expect("level");
            assert!(LEVELS.contains(&level), "{what}: bad level: {v}");
            let msg = v["msg"].as_str().expect("msg").to_string();
            (level == "debug").then_some(msg)
        })
        .collect()
}

/// hull's step lines: `<who>: <step> took <n.nnn>ms[ (note)]`.
fn step_time(msg: &str, who_prefix: &str, step: &str) -> Option<f64> {
    let (who, rest) = msg.split_once(": ")?;
    if !who.starts_with(who_prefix) {
        return None;
    }
    let rest = rest.strip_prefix(step)?.strip_prefix(" took ")?;
    let ms = rest.split("ms").next()?;
    ms.parse().ok()
}

#[track_caller]
fn assert_step(msgs: &[String], who: &str, step: &str) {
    if is_runc() || is_crun() {
        return; // the peers print no step timings
    }
    assert!(
        msgs.iter().any(|m| step_time(m, who, step).is_some()),
        "no `{who}...: {step} took ...ms` line in:\n{}",
        msgs.join("\n")
    );
}

#[test]
fn debug_text_on_stderr_for_create_start_exec_delete() {
    let rt = Runtime::new();
    let id = unique_id("dbg");
    let b = bundle(&id, &["sleep", "100"]);
    let guard = Container::with_id(&rt, &b, &id);

    let o = run_quiet(&rt, &["--debug", "create", "--bundle", b.dir_str(), &id]);
    assert_ok(&o, "create --debug");
    let create = debug_messages_text(&stderr_str(&o), "create");
    assert!(!create.is_empty(), "create --debug printed nothing");
    assert_step(&create, "create", "load config");
    assert_step(&create, "create", "cgroup create and apply");
    assert_step(&create, "create", "clone");
    // the init's own steps, measured inside the container and logged by create
    for step in [
        "join cgroup, setns",
        "namespaces",
        "mounts, devices",
        "pivot_root",
        "readonly root, readonly and masked paths",
        "capabilities",
        "find program",
    ] {
        assert_step(&create, "init[", step);
    }
    if !is_runc() {
        // what runs: the program, as whom, where
        assert!(
            create
                .iter()
                .any(|m| m.starts_with("init[") && m.contains("will exec /bin/sleep")),
            "{create:?}"
        );
        assert!(create.iter().any(|m| m.starts_with("create: done in ")));
    }

    let o = run_quiet(&rt, &["--debug", "start", &id]);
    assert_ok(&o, "start --debug");
    let start = debug_messages_text(&stderr_str(&o), "start");
    // runc 1.3.6's start logs no debug lines at all (its lines are all well-formed, though)
    assert!(
        is_runc() || !start.is_empty(),
        "start --debug printed nothing"
    );
    assert_step(&start, "start", "wait for init");

    let o = run_quiet(&rt, &["--debug", "exec", &id, "true"]);
    assert_ok(&o, "exec --debug");
    let exec = debug_messages_text(&stderr_str(&o), "exec");
    assert!(!exec.is_empty(), "exec --debug printed nothing");
    for step in [
        "find namespaces",
        "clone",
        "wait for execve",
        "wait for exit",
    ] {
        assert_step(&exec, "exec", step);
    }
    for step in ["join cgroup", "setns", "capabilities", "find program"] {
        assert_step(&exec, "exec[", step);
    }

    rt.run_ok(&["kill", &id, "KILL"]);
    guard.wait_status("stopped", budget(Duration::from_secs(10)));
    let o = run_quiet(&rt, &["--debug", "delete", &id]);
    assert_ok(&o, "delete --debug");
    let delete = debug_messages_text(&stderr_str(&o), "delete");
    assert!(
        is_runc() || !delete.is_empty(),
        "delete --debug printed nothing"
    ); // as start
    assert_step(&delete, "delete", "cgroup destroy");
}

#[test]
fn debug_json_log_file_for_run_and_exec() {
    let rt = Runtime::new();
    let dir = TempDir::new("dbglog");
    let log = dir.path().join("log.json");
    let log_s = log.to_str().unwrap();

    // run: everything goes to the log file, nothing to stderr
    let id = unique_id("dbgrun");
    let b = bundle(&id, &["true"]);
    let _g = Container::with_id(&rt, &b, &id);
    let o = run_quiet(
        &rt,
        &[
            "--debug",
            "--log",
            log_s,
            "--log-format",
            "json",
            "run",
            "--bundle",
            b.dir_str(),
            &id,
        ],
    );
    assert_ok(&o, "run --debug --log json");
    assert_eq!(stderr_str(&o), "", "stderr with --log");
    let text = fs::read_to_string(&log).expect("log file written");
    let run = debug_messages_json(&text, "run log");
    for step in ["load config", "clone", "wait for execve", "wait for exit"] {
        assert_step(&run, "run", step);
    }
    assert_step(&run, "init[", "pivot_root");
    for m in &run {
        if let Some(ms) = step_time(m, "", "") {
            assert!(ms >= 0.0, "{m}");
        }
    }

    // exec into a running container, appended to the same log
    fs::remove_file(&log).unwrap();
    let id = unique_id("dbgx");
    let b = bundle(&id, &["sleep", "100"]);
    let c = Container::with_id(&rt, &b, &id);
    c.create().start();
    let o = run_quiet(
        &rt,
        &[
            "--debug",
            "--log",
            log_s,
            "--log-format",
            "json",
            "exec",
            &id,
            "true",
        ],
    );
    assert_ok(&o, "exec --debug --log json");
    assert_eq!(stderr_str(&o), "", "stderr with --log");
    let exec = debug_messages_json(&fs::read_to_string(&log).unwrap(), "exec log");
    assert_step(&exec, "exec", "clone");
    assert_step(&exec, "exec[", "setns");
}

#[test]
fn debug_text_log_file() {
    let rt = Runtime::new();
    let dir = TempDir::new("dbgtxt");
    let log = dir.path().join("log.txt");
    let id = unique_id("dbgt");
    let b = bundle(&id, &["true"]);
    let _g = Container::with_id(&rt, &b, &id);
    let o = run_quiet(
        &rt,
        &[
            "--log",
            log.to_str().unwrap(),
            "--debug",
            "run",
            "--bundle",
            b.dir_str(),
            &id,
        ],
    );
    assert_ok(&o, "run --debug --log");
    assert_eq!(stderr_str(&o), "", "stderr with --log");
    let msgs = debug_messages_text(&fs::read_to_string(&log).unwrap(), "text log");
    assert_step(&msgs, "run", "wait for exit");
    assert_step(&msgs, "init[", "mounts, devices");
}

#[test]
fn without_debug_nothing_extra() {
    let rt = Runtime::new();
    let dir = TempDir::new("nodbg");
    let log = dir.path().join("log.json");
    let log_s = log.to_str().unwrap();

    let id = unique_id("nodbg");
    let b = bundle(&id, &["true"]);
    let _g = Container::with_id(&rt, &b, &id);
    let o = run_quiet(&rt, &["run", "--bundle", b.dir_str(), &id]);
    assert_ok(&o, "run");
    assert_eq!(stderr_str(&o), "", "run without --debug wrote to stderr");

    let id = unique_id("nodbgx");
    let b = bundle(&id, &["sleep", "100"]);
    let _c = Container::with_id(&rt, &b, &id);
    for args in [
        vec![
            "--log",
            log_s,
            "--log-format",
            "json",
            "create",
            "--bundle",
            b.dir_str(),
            &id,
        ],
        vec!["--log", log_s, "--log-format", "json", "start", &id],
        vec!["--log", log_s, "--log-format", "json", "exec", &id, "true"],
        vec![
            "--log",
            log_s,
            "--log-format",
            "json",
            "delete",
            "--force",
            &id,
        ],
    ] {
        let o = run_quiet(&rt, &args);
        assert_ok(&o, &format!("{args:?}"));
        assert_eq!(stderr_str(&o), "", "{args:?} wrote to stderr");
    }
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !text.lines().any(|l| l.contains("\"debug\"")),
        "debug lines without --debug:\n{text}"
    );
}
