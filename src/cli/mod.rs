//! Command-line entry: global flags, then one of runc's commands.

pub mod args;
mod flag_docs;
pub mod help;

use crate::commands::{self, Globals};
use crate::logging;
use anyhow::{bail, Result};
use args::{flag, FlagSpec, Kind};
use std::path::PathBuf;

const GLOBAL_FLAGS: &[FlagSpec] = &[
    flag(&["root"], Kind::Value),
    flag(&["log"], Kind::Value),
    flag(&["log-format"], Kind::Value),
    flag(&["debug"], Kind::Bool),
    flag(&["systemd-cgroup"], Kind::Bool),
    flag(&["rootless"], Kind::Value),
    flag(&["criu"], Kind::Value),
    flag(&["help", "h"], Kind::Bool),
    flag(&["version", "v"], Kind::Bool),
];

const USAGE_HEAD: &str = "NAME:
   hull - a fast, runc-compatible OCI container runtime

USAGE:
   hull [global options] command [command options] [arguments...]
";

const USAGE_GLOBALS: &str = "
GLOBAL OPTIONS:
   --root value        root directory for storage of container state (default: \"/run/hull\", or
                       \"$XDG_RUNTIME_DIR/hull\" for an unprivileged user)
   --log value         write log messages to this file (default: stderr)
   --log-format value  log format: text or json (default: \"text\")
   --debug             enable debug logging
   --systemd-cgroup    use the systemd cgroup driver
   --rootless value    ignore cgroup permission errors (true, false, auto) (default: \"auto\")
   --criu value        path to the criu binary used for checkpoint and restore (default: \"criu\")
   --help, -h          show help
   --version, -v       print the version
";

/// Splits argv into global flags, the command name and the command's own arguments.
/// Global flags come before the command (runc's syntax), values either `--f v` or `--f=v`.
fn split_globals(argv: &[String]) -> Result<(args::Parsed, Option<String>, Vec<String>)> {
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let name = a.trim_start_matches('-').split('=').next().unwrap_or("");
        let spec = GLOBAL_FLAGS.iter().find(|s| s.names.contains(&name));
        match spec {
            Some(s) if s.kind != Kind::Bool && !a.contains('=') => i += 2,
            Some(_) => i += 1,
            None => bail!("flag provided but not defined: -{name}"),
        }
    }
    let i = i.min(argv.len());
    let globals = args::parse(&argv[..i], GLOBAL_FLAGS, args::Trailing::Interleaved)?;
    Ok((
        globals,
        argv.get(i).cloned(),
        argv.get(i + 1..).map(|r| r.to_vec()).unwrap_or_default(),
    ))
}

/// Runs the CLI; returns the process exit code.
pub fn main(argv: &[String]) -> i32 {
    match dispatch(argv) {
        Ok(code) => code,
        Err(e) => {
            logging::error(&format!("{e:#}"));
            1
        }
    }
}

fn dispatch(argv: &[String]) -> Result<i32> {
    let (g, cmd, rest) = split_globals(argv)?;
    let format = match g.get("log-format").unwrap_or("text") {
        "text" => logging::Format::Text,
        "json" => logging::Format::Json,
        other => bail!("invalid log-format {other:?}: use text or json"),
    };
    if let Some(path) = g.get("log") {
        logging::check_log_file(path)?;
    }
    logging::init(g.get("log").map(String::from), format, g.bool("debug"));
    if g.bool("version") {
        print_version();
        return Ok(0);
    }
    let Some(cmd) = cmd else {
        if g.bool("help") {
            print_usage();
            return Ok(0);
        }
        bail!("no command given; see hull --help");
    };
    let rootless_cgroups =
        crate::rootless::use_rootless_cgroups(g.get("rootless"), g.bool("systemd-cgroup"))?;
    if matches!(cmd.as_str(), "help" | "h") {
        return Ok(match rest.first() {
            None => {
                print_usage();
                0
            }
            Some(topic) => show_command_help(topic),
        });
    }
    let known = help::command_help(&cmd).is_some();
    if !known {
        // runc (urfave/cli) answers an unknown command, with or without -h, like `help foo`
        return Ok(show_command_help(&cmd));
    }
    if help::wants_help(&cmd, &rest) {
        return Ok(show_command_help(&cmd));
    }
    logging::debug(&format!("hull {cmd} {}", rest.join(" ")));
    let root = match g.get("root") {
        Some(r) => PathBuf::from(r),
        None => {
            let (root, xdg) = crate::rootless::default_state_root();
            if xdg && cmd != "spec" && cmd != "features" {
                crate::rootless::prepare_xdg_root(&root)?;
            }
            root
        }
    };
    crate::steps::begin(&cmd);
    let code = run_command(g, &cmd, &rest, &root, rootless_cgroups)?;
    crate::steps::finish();
    Ok(code)
}

fn run_command(
    g: args::Parsed,
    cmd: &str,
    rest: &[String],
    root: &std::path::Path,
    rootless_cgroups: bool,
) -> Result<i32> {
    let globals = Globals {
        store: crate::state::Store::new(root),
        systemd_cgroup: g.bool("systemd-cgroup"),
        rootless_cgroups,
        criu: PathBuf::from(g.get("criu").unwrap_or("criu")),
    };
    match cmd {
        "create" => commands::create::run(&globals, rest),
        "start" => commands::start::run(&globals, rest),
        "run" => commands::run::run(&globals, rest),

        // runc: any failure of exec itself is "exec failed: ..." with exit 255, so callers
        // can tell it from the exec'd program's own status
        "exec" => commands::exec::run(&globals, rest).or_else(|e| {
            logging::error(&format!("exec failed: {e:#}"));
            Ok(255)
        }),
        "state" => commands::state::run(&globals, rest),
        "kill" => commands::kill::run(&globals, rest),
        "delete" => commands::delete::run(&globals, rest),
        "list" | "ls" => commands::list::run(&globals, rest),
        "pause" => commands::pause::pause(&globals, rest),
        "resume" => commands::pause::resume(&globals, rest),
        "ps" => commands::ps::run(&globals, rest),
        "events" => commands::events::run(&globals, rest),
        "update" => commands::update::run(&globals, rest),
        "spec" => commands::spec::run(rest),
        "features" => commands::features::run(&globals, rest),
        "checkpoint" => commands::checkpoint::run(&globals, rest),
        "restore" => commands::restore::run(&globals, rest),
        other => bail!("unknown command {other:?}; see hull --help"),
    }
}

fn print_usage() {
    let _ = crate::out!(
        "{USAGE_HEAD}\nVERSION:\n   {}\n\nCOMMANDS:\n{}{USAGE_GLOBALS}",
        env!("CARGO_PKG_VERSION"),
        help::command_list()
    );
}

/// `hull help <topic>` / `hull <topic> -h`: the command's help, or runc's error and exit
/// status 3 for a command that does not exist.
fn show_command_help(topic: &str) -> i32 {
    match help::command_help(topic) {
        Some(h) => {
            let _ = crate::out!("{h}");
            0
        }
        None => {
            logging::error(&format!("No help topic for '{topic}'"));
            3
        }
    }
}

fn print_version() {
    let v = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    // A write error other than a closed pipe (which ends hull as it ends runc) is not
    // worth an error line for --version.
    let _ = crate::outln!(
        "hull version {}\nspec: {}\nlibseccomp: {v}",
        env!("CARGO_PKG_VERSION"),
        crate::spec::validate::OCI_VERSION
    );
}
