//! A small argument parser with runc's (urfave/cli) syntax: `--flag v`, `--flag=v`, `-flag v`,
//! boolean flags with optional `=true|false`, repeatable flags, and flags after positional
//! arguments. Hand-written because callers depend on exact runc syntax and because it keeps
//! startup cheap (no parser framework on the hot path of every lifecycle command).

use anyhow::{bail, Result};

/// How a flag consumes its value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Bool,
    Value,
    /// May be given several times; every value is kept.
    Multi,
}

/// A flag a command accepts: all its names (without dashes) and its kind.
pub struct FlagSpec {
    pub names: &'static [&'static str],
    pub kind: Kind,
}

pub const fn flag(names: &'static [&'static str], kind: Kind) -> FlagSpec {
    FlagSpec { names, kind }
}

/// Parsed flags and positional arguments of one command.
#[derive(Default, Debug)]
pub struct Parsed {
    /// (canonical name = first name of the spec, value); bools are stored as "true"/"false".
    values: Vec<(&'static str, String)>,
    pub positional: Vec<String>,
}

impl Parsed {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true"))
    }

    pub fn u32(&self, name: &str) -> Result<Option<u32>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) => bail!("invalid value {v:?} for flag --{name}: expected a number"),
            },
        }
    }
}

/// How positional arguments end flag parsing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Trailing {
    /// Flags may appear anywhere (runc's commands that take only an id).
    Interleaved,
    /// After the first `n` positionals everything is passed through verbatim (`exec ID cmd -x`).
    VerbatimAfter(usize),
}

fn lookup<'a>(specs: &'a [FlagSpec], name: &str) -> Option<&'a FlagSpec> {
    specs.iter().find(|s| s.names.contains(&name))
}

fn parse_bool(name: &str, v: &str) -> Result<String> {
    match v {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok("true".into()),
        "false" | "0" | "f" | "F" | "FALSE" | "False" => Ok("false".into()),
        _ => bail!("invalid boolean value {v:?} for flag --{name}"),
    }
}

/// Splits `-x`, `--x`, `--x=v` into (name, inline value). Returns None for positionals.
fn split_flag(arg: &str) -> Option<(&str, Option<&str>)> {
    if arg == "-" || !arg.starts_with('-') {
        return None;
    }
    let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
    Some(match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    })
}

/// Parses `args` against `specs`. Unknown flags are errors, as in runc.
pub fn parse(args: &[String], specs: &[FlagSpec], trailing: Trailing) -> Result<Parsed> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if let Trailing::VerbatimAfter(n) = trailing {
            if out.positional.len() >= n {
                let start = if arg == "--" { i } else { i - 1 };
                out.positional.extend(args[start..].iter().cloned());
                break;
            }
        }
        if arg == "--" {
            out.positional.extend(args[i..].iter().cloned());
            break;
        }
        let Some((name, inline)) = split_flag(arg) else {
            out.positional.push(arg.clone());
            continue;
        };
        let Some(spec) = lookup(specs, name) else {
            bail!("flag provided but not defined: -{name}");
        };
        let value = match (spec.kind, inline) {
            (Kind::Bool, Some(v)) => parse_bool(name, v)?,
            (Kind::Bool, None) => "true".into(),
            (_, Some(v)) => v.to_string(),
            (_, None) => {
                if i >= args.len() {
                    bail!("flag needs an argument: -{name}");
                }
                i += 1;
                args[i - 1].clone()
            }
        };
        out.values.push((spec.names[0], value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[FlagSpec] = &[
        flag(&["bundle", "b"], Kind::Value),
        flag(&["detach", "d"], Kind::Bool),
        flag(&["env", "e"], Kind::Multi),
    ];

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runc_flag_syntaxes() {
        let p = parse(
            &v(&["-bundle", "B", "id", "--detach"]),
            SPECS,
            Trailing::Interleaved,
        )
        .unwrap();
        assert_eq!(p.get("bundle"), Some("B"));
        assert!(p.bool("detach"));
        assert_eq!(p.positional, vec!["id"]);
        let p = parse(
            &v(&["id", "--bundle=/x", "-d=false"]),
            SPECS,
            Trailing::Interleaved,
        )
        .unwrap();
        assert_eq!(p.get("bundle"), Some("/x"));
        assert!(!p.bool("detach"));
        let p = parse(&v(&["-b", "x"]), SPECS, Trailing::Interleaved).unwrap();
        assert_eq!(p.get("bundle"), Some("x"));
    }

    #[test]
    fn repeated_and_verbatim() {
        let p = parse(
            &v(&["-e", "A=1", "--env=B=2", "id", "sh", "-c", "x"]),
            SPECS,
            Trailing::VerbatimAfter(1),
        )
        .unwrap();
        assert_eq!(p.all("env"), vec!["A=1", "B=2"]);
        assert_eq!(p.positional, vec!["id", "sh", "-c", "x"]);
        let p = parse(&v(&["id", "--", "-d"]), SPECS, Trailing::VerbatimAfter(1)).unwrap();
        assert_eq!(p.positional, vec!["id", "-d"]);
    }

    #[test]
    fn errors() {
        assert!(parse(&v(&["--nope"]), SPECS, Trailing::Interleaved).is_err());
        assert!(parse(&v(&["--bundle"]), SPECS, Trailing::Interleaved).is_err());
        assert!(parse(&v(&["--detach=maybe"]), SPECS, Trailing::Interleaved).is_err());
        let p = parse(&v(&["-"]), SPECS, Trailing::Interleaved).unwrap();
        assert_eq!(p.positional, vec!["-"]);
    }
}
