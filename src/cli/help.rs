//! `hull <command> --help`: what a command takes, generated from the same flag tables the
//! parser uses, so the help cannot drift from what is accepted.

use super::args::{FlagSpec, Kind};
use crate::commands;

pub struct CommandHelp {
    pub name: &'static str,
    pub args: &'static str,
    pub about: &'static str,
    pub flags: &'static [FlagSpec],
}

const NONE: &[FlagSpec] = &[];

pub const COMMANDS: &[CommandHelp] = &[
    CommandHelp { name: "create", args: "<container-id>", about: "create a container", flags: commands::create::FLAGS },
    CommandHelp { name: "start", args: "<container-id>", about: "execute the user defined process in a created container", flags: NONE },
    CommandHelp { name: "run", args: "<container-id>", about: "create and run a container", flags: commands::run::FLAGS },
    CommandHelp { name: "exec", args: "<container-id> <command> [command options]", about: "execute new process inside the container", flags: commands::exec::FLAGS },
    CommandHelp { name: "state", args: "<container-id>", about: "output the state of a container", flags: NONE },
    CommandHelp { name: "kill", args: "<container-id> [signal]", about: "send a signal to the container's init process (default SIGTERM)", flags: commands::kill::FLAGS },
    CommandHelp { name: "delete", args: "<container-id>", about: "delete any resources held by the container", flags: commands::delete::FLAGS },
    CommandHelp { name: "list", args: "", about: "list containers started by hull with the given root", flags: commands::list::FLAGS },
    CommandHelp { name: "spec", args: "", about: "create a new specification file", flags: commands::spec::FLAGS },
    CommandHelp { name: "pause", args: "<container-id>", about: "pause all processes in the container", flags: NONE },
    CommandHelp { name: "resume", args: "<container-id>", about: "resume all processes of a paused container", flags: NONE },
    CommandHelp { name: "ps", args: "<container-id> [ps options]", about: "list the processes running in the container", flags: commands::ps::FLAGS },
    CommandHelp { name: "events", args: "<container-id>", about: "display container events such as OOM notifications, cpu, memory, and IO usage statistics", flags: commands::events::FLAGS },
    CommandHelp { name: "update", args: "<container-id>", about: "update container resource constraints", flags: commands::update::FLAGS },
    CommandHelp { name: "checkpoint", args: "<container-id>", about: "checkpoint a running container (with criu)", flags: crate::checkpoint::options::CHECKPOINT_FLAGS },
    CommandHelp { name: "restore", args: "<container-id>", about: "restore a container from a previous checkpoint", flags: crate::checkpoint::options::RESTORE_FLAGS },
    CommandHelp { name: "features", args: "", about: "show the enabled features", flags: NONE },
];

/// Whether the command's arguments ask for help. For `exec` only the part before the
/// container id counts: what follows is the program's own command line.
pub fn wants_help(cmd: &str, args: &[String]) -> bool {
    for a in args {
        if a == "--" {
            break;
        }
        if matches!(a.as_str(), "--help" | "-help" | "-h") {
            return true;
        }
        if cmd == "exec" && !a.starts_with('-') {
            break;
        }
    }
    false
}

/// The help of `cmd`, or None for an unknown command.
pub fn command_help(cmd: &str) -> Option<String> {
    let c = COMMANDS
        .iter()
        .find(|c| c.name == cmd || (cmd == "ls" && c.name == "list"))?;
    let opts = if c.flags.is_empty() {
        ""
    } else {
        " [command options]"
    };
    let usage = format!("hull {}{opts} {}", c.name, c.args);
    let mut s = format!(
        "NAME:\n   hull {} - {}\n\nUSAGE:\n   {}\n",
        c.name,
        c.about,
        usage.trim_end()
    );
    if !c.flags.is_empty() {
        s.push_str("\nOPTIONS:\n");
        let rows: Vec<(String, &str)> = c
            .flags
            .iter()
            .map(|f| {
                let names: Vec<String> = f
                    .names
                    .iter()
                    .map(|n| {
                        let dash = if n.len() == 1 { "-" } else { "--" };
                        match f.kind {
                            Kind::Bool => format!("{dash}{n}"),
                            Kind::Value | Kind::Multi => format!("{dash}{n} value"),
                        }
                    })
                    .collect();
                let doc = super::flag_docs::describe(c.name, f.names[0]).unwrap_or("");
                (names.join(", "), doc)
            })
            .collect();
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (names, doc) in rows {
            s.push_str(format!("   {names:<width$}  {doc}").trim_end());
            s.push('\n');
        }
    }
    Some(s)
}

/// The COMMANDS section of `hull --help`.
pub fn command_list() -> String {
    let mut s: String = COMMANDS
        .iter()
        .map(|c| format!("   {:<9} {}\n", c.name, c.about))
        .collect();
    s.push_str("   help, h   Shows a list of commands or help for one command\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_only_before_the_exec_program() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wants_help("update", &v(&["c1", "--help"])));
        assert!(wants_help("exec", &v(&["-h"])));
        assert!(!wants_help("exec", &v(&["c1", "ls", "-h"])));
        assert!(!wants_help("kill", &v(&["c1", "KILL"])));
    }

    #[test]
    fn every_flag_is_described() {
        for c in COMMANDS {
            for f in c.flags {
                assert!(
                    super::super::flag_docs::describe(c.name, f.names[0]).is_some(),
                    "{} --{} has no description",
                    c.name,
                    f.names[0]
                );
            }
        }
    }

    #[test]
    fn every_flag_is_listed() {
        let h = command_help("update").unwrap();
        assert!(h.contains("--resources value, -r value"), "{h}");
        assert!(h.contains("--pids-limit value"), "{h}");
        assert!(command_help("ls").unwrap().contains("hull list"));
        assert!(command_help("nope").is_none());
    }
}
