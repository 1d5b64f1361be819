//! Which CRIU we have: its version over the RPC (as runc asks it), and feature checks.
//! A CRIU that cannot even answer (Debian 12's 3.17 fails its kernel probe on 6.x kernels
//! with newer vDSO layouts) is reported with what `criu --version` says and its own error.

use super::swrk::{CriuStdio, Swrk};
use anyhow::{bail, Result};
use rust_criu::rust_criu_protobuf::rpc;
use std::path::Path;

/// 3.15: external pid namespaces, the "status-ready" notification, cgroup v2 freezer.
pub const MIN: u32 = 31500;

/// runc's encoding: major*10000 + minor*100 + sublevel; a git build counts as the next minor.
pub fn encode(v: &rpc::Criu_version) -> u32 {
    let mut n =
        v.major_number() as u32 * 10000 + v.minor_number() as u32 * 100 + v.sublevel() as u32;
    if v.has_gitid() {
        n = n - n % 100 + 100;
    }
    n
}

pub fn format(v: u32) -> String {
    format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

fn request(t: rpc::Criu_req_type) -> rpc::Criu_req {
    let mut r = rpc::Criu_req::new();
    r.set_type(t);
    r
}

/// What `criu --version` prints, for error messages about a CRIU that does not work.
fn self_described(criu: &Path) -> String {
    std::process::Command::new(criu)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("Version:").map(|v| v.trim().to_string()))
        })
        .unwrap_or_else(|| "of unknown version".into())
}

/// One request in its own `criu swrk` session (CRIU serves one per session); on failure the
/// error and CRIU's last "Error" line on stderr.
fn ask(criu: &Path, req: rpc::Criu_req) -> Result<rpc::Criu_resp, (anyhow::Error, String)> {
    let mut s = Swrk::spawn(criu, &[], CriuStdio::Null).map_err(|e| (e, String::new()))?;
    let answer = s.call(&req, &mut |_| Ok(()));
    let (_, stderr) = s.finish();
    answer.map_err(|e| {
        let why = stderr
            .lines()
            .rev()
            .find(|l| l.contains("Error"))
            .unwrap_or("");
        (e, why.split('\0').next().unwrap_or("").trim().to_string())
    })
}

/// The version of a working CRIU, or an error naming what was found and why it is not usable.
/// The version answer needs no kernel probing; the feature check does, and that is what fails
/// with a CRIU that does not know this kernel.
pub fn check(criu: &Path) -> Result<u32> {
    let answer = ask(criu, request(rpc::Criu_req_type::VERSION)).and_then(|v| {
        let mut fc = request(rpc::Criu_req_type::FEATURE_CHECK);
        fc.features = protobuf::MessageField::some(rpc::Criu_features::new());
        ask(criu, fc).map(|_| v)
    });
    let resp = match answer {
        Ok(resp) => resp,
        Err((e, why)) if why.is_empty() && e.to_string().contains("not found") => return Err(e),
        Err((e, why)) => bail!(
            "criu {} at {} does not work on this system ({e:#}{}{}): need a working criu {} or newer",
            self_described(criu),
            criu.display(),
            if why.is_empty() { "" } else { ": " },
            why,
            format(MIN)
        ),
    };
    if resp.version.is_none() {
        bail!(
            "{} is too old: it has no version RPC (need criu {} or newer)",
            criu.display(),
            format(MIN)
        );
    }
    let v = encode(&resp.version);
    if v < MIN {
        bail!(
            "criu {} at {} is too old: need criu {} or newer",
            format(v),
            criu.display(),
            format(MIN)
        );
    }
    Ok(v)
}

/// Asks CRIU whether it has the features `want` sets to true; names the missing ones.
pub fn require_features(criu: &Path, want: rpc::Criu_features) -> Result<()> {
    let mut req = request(rpc::Criu_req_type::FEATURE_CHECK);
    req.features = protobuf::MessageField::some(want.clone());
    let got = ask(criu, req)
        .map_err(|(e, _)| e)?
        .features
        .unwrap_or_default();
    let mut missing = Vec::new();
    if want.mem_track() && !got.mem_track() {
        missing.push("MemTrack");
    }
    if want.lazy_pages() && !got.lazy_pages() {
        missing.push("LazyPages");
    }
    if !missing.is_empty() {
        bail!("criu is missing features: {}", missing.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_encoding_is_runcs() {
        let mut v = rpc::Criu_version::new();
        v.set_major_number(4);
        v.set_minor_number(2);
        v.set_sublevel(1);
        assert_eq!(encode(&v), 40201);
        assert_eq!(format(40201), "4.2.1");
        v.set_gitid("abc".into());
        assert_eq!(encode(&v), 40300);
    }

    #[test]
    fn missing_criu_is_named() {
        let e = check(Path::new("/nonexistent/criu"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/criu not found"), "{e}");
        assert!(e.contains("3.15.0 or newer"), "{e}");
    }
}
