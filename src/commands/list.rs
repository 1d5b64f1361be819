//! `hull list`: all containers, as runc's table (text/tabwriter) or JSON.

use super::Globals;
use crate::cli::args::{flag, parse, FlagSpec, Kind, Trailing};
use anyhow::{bail, Result};

pub const FLAGS: &[FlagSpec] = &[
    flag(&["format", "f"], Kind::Value),
    flag(&["quiet", "q"], Kind::Bool),
];

/// Go's text/tabwriter as runc configures it (minwidth 12, padding 3, spaces); the last
/// column is not padded.
fn tabwrite(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols.saturating_sub(1)) {
            widths[i] = widths[i].max((c.chars().count() + 3).max(12));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// runc lists the owner of each container's state directory by user name.
fn owner_name(dir: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata(dir).map(|m| m.uid()) else {
        return String::new();
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2].parse() == Ok(uid))
        .map(|f| f[0].to_string())
        .unwrap_or_else(|| format!("#{uid}"))
}

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::Interleaved)?;
    let ids = g.store.list()?;
    let states: Vec<_> = ids
        .iter()
        .filter_map(|id| g.store.load(id).ok())
        .map(|mut s| {
            s.owner = owner_name(&g.store.dir(&s.id));
            s
        })
        .collect();
    if p.bool("quiet") {
        for s in &states {
            crate::outln!("{}", s.id)?;
        }
        return Ok(0);
    }
    match p.get("format").unwrap_or("table") {
        "table" => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for s in &states {
                let status = s.status(&g.store);
                let pid = if status == crate::state::Status::Stopped {
                    0
                } else {
                    s.pid
                };
                rows.push(vec![
                    s.id.clone(),
                    pid.to_string(),
                    status.as_str().into(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    s.owner.clone(),
                ]);
            }
            crate::out!("{}", tabwrite(&rows))?;
        }
        "json" => {
            let v: Vec<_> = states
                .iter()
                .map(|s| s.to_oci(s.status(&g.store)))
                .collect();
            // runc marshals an empty list as null.
            if v.is_empty() {
                crate::outln!("null")?;
            } else {
                crate::outln!("{}", serde_json::to_string(&v)?)?;
            }
        }
        other => bail!("invalid format option {other:?}: use table or json"),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tabwriter_like_go() {
        let rows = vec![
            vec!["ID".into(), "PID".into(), "X".into()],
            vec!["a-very-long-identifier".into(), "1".into(), "y".into()],
        ];
        let out = super::tabwrite(&rows);
        assert_eq!(
            out,
            "ID                       PID         X\na-very-long-identifier   1           y\n"
        );
    }
}
