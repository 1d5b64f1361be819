//! Handing the `SCMP_ACT_NOTIFY` listener fd to the seccomp agent at `listenerPath`.

use anyhow::{bail, Context, Result};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::{IoSlice, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Name of the seccomp fd in the `fds` array of the container process state (runtime-spec
/// `SeccompFdName`).
pub const SECCOMP_FD_NAME: &str = "seccompFd";

/// Builds runc's payload for the agent (runtime-spec "container process state"):
/// `{"ociVersion", "fds": ["seccompFd"], "pid", "metadata"?, "state"}`.
///
/// `state_json` is the container's OCI state as `hull state` prints it (at this point runc reports
/// `"status": "creating"` and the init pid); `ociVersion` and `pid` are taken from it.
/// `metadata` is `linux.seccomp.listenerMetadata` (omitted when empty, like runc).
pub fn listener_payload(state_json: &[u8], metadata: Option<&str>) -> Result<Vec<u8>> {
    let state: serde_json::Value = serde_json::from_slice(state_json)
        .context("seccomp listener: container state is not valid JSON")?;
    let Some(obj) = state.as_object() else {
        bail!("seccomp listener: container state is not a JSON object");
    };
    let version = obj
        .get("ociVersion")
        .cloned()
        .unwrap_or_else(|| "1.0.2".into());
    let pid = obj.get("pid").cloned().unwrap_or(0.into());
    let mut out = serde_json::Map::new();
    out.insert("ociVersion".into(), version);
    out.insert("fds".into(), serde_json::json!([SECCOMP_FD_NAME]));
    out.insert("pid".into(), pid);
    if let Some(m) = metadata.filter(|m| !m.is_empty()) {
        out.insert("metadata".into(), m.into());
    }
    out.insert("state".into(), state);
    Ok(serde_json::to_vec(&serde_json::Value::Object(out))?)
}

/// Send the notify fd to the agent at `listener_path` (unix stream socket, SCM_RIGHTS) with
/// runc's payload. `state_json` must be the complete container *process* state JSON, i.e. what
/// [`listener_payload`] returns (ociVersion, fds ["seccompFd"], pid, metadata=listenerMetadata,
/// state); it is sent verbatim, the fd travels with its first byte.
pub fn send_listener_fd(listener_path: &Path, fd: &OwnedFd, state_json: &[u8]) -> Result<()> {
    if state_json.is_empty() {
        bail!("seccomp listener: empty payload");
    }
    let mut sock = UnixStream::connect(listener_path).with_context(|| {
        format!(
            "seccomp: connecting to listenerPath {}",
            listener_path.display()
        )
    })?;
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let sent = loop {
        match sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(state_json)],
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(n) => break n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "seccomp: sending listener fd to {}",
                        listener_path.display()
                    )
                })
            }
        }
    };
    // A stream socket may take the payload in several pieces; the fd went with the first.
    sock.write_all(&state_json[sent..]).with_context(|| {
        format!(
            "seccomp: sending container state to {}",
            listener_path.display()
        )
    })?;
    Ok(())
}
