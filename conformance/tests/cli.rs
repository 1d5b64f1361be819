//! Command-line syntax and output formats that callers (containerd's runc
//! shim, conmon, podman, scripts) depend on.

use hull_conformance::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// The strings of the JSON array `v` (`what` names it when it is not an array).
#[track_caller]
fn str_array<'a>(v: &'a Value, what: &str) -> Vec<&'a str> {
    v.as_array()
        .expect(what)
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn create_flag_forms() {
    let rt = Runtime::new();
    type Form = fn(&str, &str) -> Vec<String>;
    let forms: Vec<(&str, Form)> = vec![
        ("--bundle B ID", |b, id| {
            vec!["create".into(), "--bundle".into(), b.into(), id.into()]
        }),
        ("--bundle=B ID", |b, id| {
            vec!["create".into(), format!("--bundle={b}"), id.into()]
        }),
        ("-bundle B ID", |b, id| {
            vec!["create".into(), "-bundle".into(), b.into(), id.into()]
        }),
        ("-bundle=B ID", |b, id| {
            vec!["create".into(), format!("-bundle={b}"), id.into()]
        }),
        ("-b B ID", |b, id| {
            vec!["create".into(), "-b".into(), b.into(), id.into()]
        }),
        ("ID --bundle B", |b, id| {
            vec!["create".into(), id.into(), "--bundle".into(), b.into()]
        }),
    ];
    for (name, form) in forms {
        // crun parses with argp: `-bundle` is `-b undle`, and no option may follow the id
        // ("`create` requires a maximum of 1 arguments"); its other forms still count
        if is_crun() && (name.starts_with("-bundle") || name.starts_with("ID")) {
            continue;
        }
        let id = unique_id("flags");
        let b = Bundle::sleeping(&id);
        let c = Container::with_id(&rt, &b, &id);
        let args = form(b.dir_str(), &id);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = rt.run(&args);
        assert_ok(&o, &format!("create form `{name}`"));
        let st = c.state();
        assert_eq!(st["status"], "created", "form `{name}`: {st}");
        assert_eq!(
            fs::canonicalize(st["bundle"].as_str().unwrap()).unwrap(),
            fs::canonicalize(&b.dir).unwrap(),
            "form `{name}` used the wrong bundle"
        );
        c.delete();
        assert_no_state(&rt, &id);
    }
}

#[test]
fn bundle_defaults_to_cwd() {
    let rt = Runtime::new();
    let id = unique_id("cwdb");
    let b = Bundle::sleeping(&id);
    let c = Container::with_id(&rt, &b, &id);
    let mut cmd = rt.cmd(&["create", &id]);
    cmd.current_dir(&b.dir);
    let o = output_with_timeout(&mut cmd, Duration::from_secs(30));
    assert_ok(&o, "create without --bundle in the bundle dir");
    let st = c.state();
    assert_eq!(
        fs::canonicalize(st["bundle"].as_str().unwrap()).unwrap(),
        fs::canonicalize(&b.dir).unwrap()
    );
    assert!(
        std::path::Path::new(st["bundle"].as_str().unwrap()).is_absolute(),
        "bundle must be stored as an absolute path: {st}"
    );
}

#[test]
fn global_root_flag_forms() {
    // `--root R` and `--root=R` (and single dash) must all select the state root.
    let rt = Runtime::new();
    for form in ["--root", "--root=", "-root"] {
        // crun parses with argp: `-root` is `-r oot`, "invalid option -- 'r'"
        if is_crun() && form == "-root" {
            continue;
        }
        let id = unique_id("rootf");
        let b = Bundle::sleeping(&id);
        let c = Container::with_id(&rt, &b, &id);
        let root = rt.root.to_str().unwrap();
        let mut args: Vec<String> = if form.ends_with('=') {
            vec![format!("{form}{root}")]
        } else {
            vec![form.to_string(), root.to_string()]
        };
        args.extend(["create", "--bundle", b.dir_str(), &id].map(String::from));
        let mut cmd = rt.bare_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let o = output_with_timeout(&mut cmd, Duration::from_secs(30));
        assert_ok(&o, &format!("create with global {form}"));
        assert!(
            rt.state_dir(&id).is_dir(),
            "{form}: no state dir under the given root"
        );
        assert_eq!(c.state()["status"], "created");
    }
}

/// The entries of a JSON log: runc (logrus) writes one object a line, which hull promises;
/// crun pretty-prints each object over several lines, which containerd's shim reads as well (it
/// decodes the file as a stream of JSON values).
fn json_log_entries(text: &str) -> Vec<Value> {
    if is_crun() {
        return serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .map(|v| v.unwrap_or_else(|e| panic!("log is not a JSON stream ({e}): {text:?}")))
            .collect();
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l:?}"))
        })
        .collect()
}

/// runc's "container does not exist"; crun says "container `<id>` does not exist: open ...".
fn does_not_exist_words() -> &'static str {
    if is_crun() {
        "does not exist"
    } else {
        "container does not exist"
    }
}

fn check_json_error_log(text: &str, want_msg: &str) {
    let lines = json_log_entries(text);
    let err = lines
        .iter()
        .find(|v| v["level"] == "error")
        .unwrap_or_else(|| panic!("no error line in log: {text:?}"));
    let msg = err["msg"].as_str().expect("msg is a string");
    assert!(msg.contains(want_msg), "msg {msg:?} lacks {want_msg:?}");
    let time = err["time"].as_str().expect("time is a string");
    let ts = parse_rfc3339(time).unwrap_or_else(|| panic!("time not RFC3339: {time:?}"));
    assert!(
        (ts.unix_secs - now_unix()).abs() < 60,
        "time {time} is not now"
    );
}

#[test]
fn log_file_json_format_on_error() {
    let rt = Runtime::new();
    let dir = Bundle::empty();
    for (i, flags) in [
        vec!["--log", "LOG", "--log-format", "json"],
        vec!["--log=LOG", "--log-format=json"],
    ]
    .iter()
    .enumerate()
    {
        let log = dir.dir.join(format!("runtime{i}.log"));
        let log_s = log.to_str().unwrap();
        let mut args: Vec<String> = flags.iter().map(|f| f.replace("LOG", log_s)).collect();
        args.extend(["state", "no-such-container"].map(String::from));
        let o = rt.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_fail1(&o, "state of unknown id with --log");
        let text = fs::read_to_string(&log).expect("log file written");
        check_json_error_log(&text, does_not_exist_words());
    }
}

#[test]
fn log_format_json_to_stderr() {
    let rt = Runtime::new();
    let o = rt.run(&["--log-format", "json", "state", "no-such-container"]);
    assert_fail1(&o, "state of unknown id");
    check_json_error_log(&stderr_str(&o), does_not_exist_words());
}

#[test]
fn log_text_format_on_error() {
    let rt = Runtime::new();
    let o = rt.run(&["state", "no-such-container"]);
    assert_fail1(&o, "state of unknown id");
    let e = stderr_str(&o);
    assert!(
        e.contains("level=error") && e.contains("container does not exist"),
        "text log line expected on stderr: {e:?}"
    );
}

#[test]
fn state_and_list_output() {
    let rt = Runtime::new();

    // a state root that does not exist is an error (runc: "open <root>: no such file ...");
    // crun creates it and lists nothing
    let missing = rt.root.join("does-not-exist");
    let o = rt
        .bare_cmd(&["--root", missing.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    if is_crun() {
        assert_ok(&o, "crun list --root <missing>");
        fs::remove_dir(&missing).expect("crun made the missing root");
    } else {
        assert_fail1(&o, "list --root <missing>");
        assert!(
            stderr_str(&o).contains("no such file or directory"),
            "{}",
            describe(&o)
        );
    }
    // runc's header; crun's says NAME for ID and BUNDLE PATH for BUNDLE
    let want_header: &[&str] = if is_crun() {
        &[
            "NAME", "PID", "STATUS", "BUNDLE", "PATH", "CREATED", "OWNER",
        ]
    } else {
        &["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    };

    // empty root
    let o = rt.run_ok(&["list"]);
    assert!(
        o.stderr.is_empty(),
        "list wrote to stderr: {}",
        describe(&o)
    );
    let out = stdout_str(&o);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, want_header);
    assert_eq!(out.lines().count(), 1, "only a header expected: {out:?}");
    let o = rt.run_ok(&["list", "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("list json parses");
    // runc prints `null` for an empty list
    assert!(
        v.is_null() || v.as_array().is_some_and(|a| a.is_empty()),
        "empty list json: {v}"
    );
    let o = rt.run_ok(&["list", "-q"]);
    assert!(
        o.stdout.is_empty(),
        "list -q on empty root: {}",
        describe(&o)
    );

    // two containers: one created, one running
    let id1 = unique_id("lst");
    let id2 = unique_id("lst");
    let b1 = Bundle::sleeping(&id1);
    let b2 = Bundle::sleeping(&id2);
    let c1 = Container::with_id(&rt, &b1, &id1);
    let c2 = Container::with_id(&rt, &b2, &id2);
    c1.create();
    c2.create().start();

    let o = rt.run_ok(&["state", &id1]);
    assert!(
        o.stderr.is_empty(),
        "state wrote to stderr: {}",
        describe(&o)
    );
    let st1: Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ] {
        assert!(st1.get(k).is_some(), "state lacks {k}: {st1}");
    }
    // runc's rootfs is absolute; crun's is the config's root.path, relative to the bundle
    assert_eq!(
        fs::canonicalize(b1.dir.join(st1["rootfs"].as_str().unwrap())).unwrap(),
        fs::canonicalize(b1.rootfs()).unwrap()
    );

    let o = rt.run_ok(&["list"]);
    assert!(
        o.stderr.is_empty(),
        "list wrote to stderr: {}",
        describe(&o)
    );
    let out = stdout_str(&o);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, want_header);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{out}");
    for (c, b, status) in [(&c1, &b1, "created"), (&c2, &b2, "running")] {
        let row = rows
            .iter()
            .find(|r| r[0] == c.id)
            .unwrap_or_else(|| panic!("{} not listed: {out}", c.id));
        assert_eq!(row[1], c.pid().to_string(), "{out}");
        assert_eq!(row[2], status, "{out}");
        assert_eq!(row[3], b.dir_str(), "{out}");
        assert!(parse_rfc3339(row[4]).is_some(), "created column: {out}");
        assert_eq!(row.len(), 6, "{out}");
    }

    for fmt in [
        &["list", "--format", "json"][..],
        &["list", "--format=json"],
        &["list", "-f", "json"],
    ] {
        let o = rt.run_ok(fmt);
        assert!(o.stderr.is_empty());
        let v: Value = serde_json::from_slice(&o.stdout).expect("list json parses");
        let arr = v.as_array().expect("list json is an array");
        assert_eq!(arr.len(), 2, "{v}");
        for (c, status) in [(&c1, "created"), (&c2, "running")] {
            let e = arr
                .iter()
                .find(|e| e["id"] == c.id.as_str())
                .unwrap_or_else(|| panic!("{} missing in {v}", c.id));
            assert_eq!(e["status"], status);
            assert_eq!(e["pid"].as_i64(), Some(c.pid() as i64));
            // crun's entries have no ociVersion and rootfs
            let keys: &[&str] = if is_crun() {
                &["bundle", "created", "owner"]
            } else {
                &["ociVersion", "bundle", "rootfs", "created", "owner"]
            };
            for k in keys {
                assert!(e.get(k).is_some(), "list json entry lacks {k}: {e}");
            }
        }
    }

    for q in ["-q", "--quiet"] {
        let o = rt.run_ok(&["list", q]);
        let ids: BTreeSet<String> = stdout_str(&o).lines().map(str::to_string).collect();
        assert_eq!(ids, BTreeSet::from([id1.clone(), id2.clone()]), "list {q}");
    }
}

#[test]
fn delete_force_of_unknown_container_succeeds() {
    // containerd's shim runs `delete --force` during cleanup of never-created containers.
    let rt = Runtime::new();
    let o = rt.run(&["delete", "--force", "no-such-container"]);
    assert_ok(&o, "delete --force of unknown id");
}

#[test]
fn spec_writes_default_config() {
    let rt = Runtime::new();
    let d = Bundle::empty();
    let o = output_with_timeout(
        &mut rt.bare_cmd(&["spec", "--bundle", d.dir_str()]),
        Duration::from_secs(10),
    );
    assert_ok(&o, "spec --bundle");
    let text = fs::read_to_string(d.config_path()).expect("spec wrote config.json");
    let v: Value = serde_json::from_str(&text).expect("spec output is JSON");
    assert!(v["ociVersion"]
        .as_str()
        .is_some_and(|s| s.starts_with("1.")));
    assert_eq!(v["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(v["process"]["terminal"], true);
    assert_eq!(v["root"]["path"], "rootfs");
    let ns: BTreeSet<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for n in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(n), "default spec lacks {n} namespace");
    }
    let dests: Vec<&str> = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    for m in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"] {
        assert!(dests.contains(&m), "default spec lacks mount {m}");
    }

    // refuses to overwrite (like runc: "File config.json exists. Remove it first")
    fs::write(d.config_path(), "{\"mine\":1}").unwrap();
    let o = output_with_timeout(
        &mut rt.bare_cmd(&["spec", "-b", d.dir_str()]),
        Duration::from_secs(10),
    );
    assert_fail1(&o, "spec over an existing config.json");
    assert!(stderr_str(&o).contains("config.json"), "{}", describe(&o));
    assert_eq!(fs::read_to_string(d.config_path()).unwrap(), "{\"mine\":1}");
}

#[test]
fn spec_in_cwd_and_rootless() {
    let rt = Runtime::new();
    let d = Bundle::empty();
    let mut cmd = rt.bare_cmd(&["spec", "--rootless"]);
    cmd.current_dir(&d.dir);
    let o = output_with_timeout(&mut cmd, Duration::from_secs(10));
    assert_ok(&o, "spec --rootless in cwd");
    let v: Value =
        serde_json::from_str(&fs::read_to_string(d.config_path()).expect("config.json in cwd"))
            .unwrap();
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(
        ns.contains(&"user"),
        "rootless spec needs a user namespace: {ns:?}"
    );
    assert!(
        !ns.contains(&"network"),
        "rootless spec has no network ns: {ns:?}"
    );
    for k in ["uidMappings", "gidMappings"] {
        let m = v["linux"][k].as_array().unwrap_or_else(|| panic!("no {k}"));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["containerID"], 0);
        assert_eq!(m[0]["size"], 1);
    }
}

#[test]
fn features_json() {
    let rt = Runtime::new();
    let o = output_with_timeout(&mut rt.bare_cmd(&["features"]), Duration::from_secs(10));
    assert_ok(&o, "features");
    let v: Value = serde_json::from_slice(&o.stdout).expect("features prints JSON");
    for k in ["ociVersionMin", "ociVersionMax"] {
        let s = v[k].as_str().unwrap_or_else(|| panic!("{k} missing: {v}"));
        assert!(s.starts_with("1."), "{k} = {s}");
    }
    // runtime-spec 1.3.0 is the current one (runc 1.3 reports 1.2.1, crun 1.28 "1.1.0+dev")
    if !is_runc() && !is_crun() {
        assert_eq!(v["ociVersionMax"], "1.3.0", "{v}");
    }
    let hooks = str_array(&v["hooks"], "hooks array");
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.contains(&h), "hook {h} missing: {hooks:?}");
    }
    let mo = str_array(&v["mountOptions"], "mountOptions array");
    for m in ["ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec"] {
        assert!(mo.contains(&m), "mount option {m} missing");
    }
    let linux = &v["linux"];
    let ns = str_array(&linux["namespaces"], "linux.namespaces");
    for n in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(ns.contains(&n), "namespace {n} missing: {ns:?}");
    }
    let caps = linux["capabilities"]
        .as_array()
        .expect("linux.capabilities");
    assert!(
        caps.iter().any(|c| c == "CAP_SYS_ADMIN"),
        "capabilities: {caps:?}"
    );
    assert!(caps
        .iter()
        .all(|c| c.as_str().is_some_and(|s| s.starts_with("CAP_"))));
    assert!(linux["cgroup"]["v1"].is_boolean(), "linux.cgroup.v1: {v}");
    assert!(linux["cgroup"]["v2"].is_boolean(), "linux.cgroup.v2: {v}");
    assert_eq!(linux["cgroup"]["v1"], true, "hull supports cgroup v1");
    let sc = &linux["seccomp"];
    assert_eq!(sc["enabled"], true, "seccomp: {sc}");
    // features.md makes seccomp.archs OPTIONAL; crun 1.28 leaves it out, runc and hull list them
    let keys: &[&str] = if is_crun() {
        &["actions", "operators"]
    } else {
        &["actions", "operators", "archs"]
    };
    for k in keys {
        assert!(
            sc[k].as_array().is_some_and(|a| !a.is_empty()),
            "seccomp.{k}: {sc}"
        );
    }
    assert!(
        sc["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "SCMP_ACT_ERRNO"),
        "{sc}"
    );
}

#[test]
fn version_and_help() {
    let rt = Runtime::new();
    for f in ["--version", "-v"] {
        let o = output_with_timeout(&mut rt.bare_cmd(&[f]), Duration::from_secs(10));
        assert_ok(&o, f);
        let out = stdout_str(&o);
        assert!(out.contains("version"), "{f}: {out:?}");
        assert!(
            out.contains("spec: 1."),
            "{f} must print the spec version: {out:?}"
        );
    }
    // crun (argp) has no `-h` ("invalid option -- 'h'") nor `help` ("unknown command help")
    let helps: &[&str] = if is_crun() {
        &["--help"]
    } else {
        &["--help", "-h", "help"]
    };
    for &f in helps {
        let o = output_with_timeout(&mut rt.bare_cmd(&[f]), Duration::from_secs(10));
        assert_ok(&o, f);
        let out = stdout_str(&o);
        for cmd in [
            "create", "start", "state", "kill", "delete", "run", "spec", "list",
        ] {
            assert!(out.contains(cmd), "{f} does not mention {cmd}");
        }
    }
}

#[test]
fn start_waits_for_nothing_and_state_is_consistent() {
    // `start` returns promptly and a second runtime invocation sees "running".
    let rt = Runtime::new();
    let id = unique_id("startq");
    let b = Bundle::sleeping(&id);
    let c = Container::with_id(&rt, &b, &id);
    c.create();
    let t0 = std::time::Instant::now();
    c.start();
    assert!(t0.elapsed() < Duration::from_secs(5), "start too slow");
    assert_eq!(c.state()["status"], "running");
    c.kill("KILL");
    c.wait_status("stopped", T);
}

#[test]
fn containerd_shim_style_invocation() {
    // The runc shim v2 runs every command as
    // `RUNTIME --root R --log B/log.json --log-format json CMD ...`.
    let rt = Runtime::new();
    let id = unique_id("shim");
    let b = Bundle::sleeping(&id);
    let log = b.dir.join("log.json");
    let log_s = log.to_str().unwrap();
    let pidfile = b.dir.join("init.pid");
    let pid_s = pidfile.to_str().unwrap();
    let g = ["--log", log_s, "--log-format", "json"];
    let with = |args: &[&str]| -> Vec<String> {
        g.iter().chain(args.iter()).map(|s| s.to_string()).collect()
    };
    let run = |args: &[&str]| {
        let a = with(args);
        rt.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let c = Container::with_id(&rt, &b, &id);
    let o = run(&["create", "--bundle", b.dir_str(), "--pid-file", pid_s, &id]);
    assert_ok(&o, "shim-style create");
    let pid: i64 = fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    assert_ok(&run(&["start", &id]), "shim-style start");
    let o = run(&["state", &id]);
    assert_ok(&o, "shim-style state");
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["status"], "running");
    assert_eq!(st["pid"].as_i64(), Some(pid));
    assert_ok(&run(&["kill", &id, "9"]), "shim-style kill");
    c.wait_status("stopped", T);
    assert_ok(&run(&["delete", &id]), "shim-style delete");
    assert_no_state(&rt, &id);
    // whatever was logged must be JSON with no error
    let text = fs::read_to_string(&log).unwrap_or_default();
    for v in json_log_entries(&text) {
        assert_ne!(v["level"], "error", "error logged on success: {v}");
    }
    // a failing command logs a JSON error to the same file
    let o = run(&["delete", &id]);
    assert_fail1(&o, "delete of deleted container");
    let text = fs::read_to_string(&log).expect("log file");
    // crun's words: "cannot open directory `<root>/<id>`: No such file or directory"
    let want = if is_crun() {
        id.as_str()
    } else {
        "container does not exist"
    };
    assert!(
        json_log_entries(&text)
            .iter()
            .any(|v| v["level"] == "error" && v["msg"].as_str().is_some_and(|m| m.contains(want))),
        "no JSON error line in {text:?}"
    );
}

#[test]
fn command_help_lists_the_flags() {
    let rt = Runtime::new();
    let o = rt.run(&["update", "--help"]);
    assert_ok(&o, "update --help");
    let out = stdout_str(&o);
    // the NAME line carries the binary's own name (runc prints "runc update")
    let name = format!("{} update", if is_runc() { "runc" } else { "hull" });
    for want in [
        name.as_str(),
        "--memory value",
        "--resources value, -r value",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let o = rt.run(&["create", "-h"]);
    assert_ok(&o, "create -h");
    assert!(stdout_str(&o).contains("--bundle value, -b value"));
    assert!(stderr_str(&o).is_empty(), "{}", describe(&o));
    // for exec, -h after the container id belongs to the program
    let o = rt.run(&["exec", "no-such-container", "ls", "-h"]);
    // runc: a failed exec exits 255
    assert_eq!(
        o.status.code(),
        Some(255),
        "exec of a missing container: {}",
        describe(&o)
    );
    assert!(
        stderr_str(&o).contains("container does not exist"),
        "{}",
        describe(&o)
    );
}

/// `hull state x | head -c1`, `hull list | head`: output into a pipe whose reader is gone ends
/// the command as SIGPIPE ends runc (a Go program), quietly: no panic, no backtrace on stderr.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;
    let rt = Runtime::new();
    let id = unique_id("pipe");
    let b = Bundle::sleeping(&id);
    let c = Container::with_id(&rt, &b, &id);
    c.create();
    for args in [
        vec!["state", id.as_str()],
        vec!["list"],
        vec!["ps", id.as_str()],
        vec!["features"],
        vec!["--version"],
    ] {
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both fds were just made and are owned here.
        let (reader, writer) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(reader); // every write to `writer` now fails with EPIPE
        let o = rt
            .cmd(&args)
            .stdout(std::process::Stdio::from(writer))
            .output()
            .unwrap();
        let what = format!("hull {} into a closed pipe", args.join(" "));
        assert!(
            o.stderr.is_empty(),
            "{what} wrote to stderr: {}",
            describe(&o)
        );
        assert_eq!(
            o.status.signal(),
            Some(libc::SIGPIPE),
            "{what}: {}",
            describe(&o)
        );
    }
    c.delete();
}
