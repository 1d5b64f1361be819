//! Harness for `tests/clients.rs`: drives the runtime under test through
//! real clients (containerd's runc shim v2 via `ctr`, and podman/conmon).
//! Self-contained on purpose: depends only on std, libc and serde_json.
//!
//! # How the clients invoke the runtime (observed with runc, `HULL_CLIENTS_TRACE`)
//!
//! containerd 1.6.20, `containerd-shim-runc-v2` with `--runc-binary`
//! (cwd = the bundle dir; config.json has the *relative* `root.path: "rootfs"`;
//! env includes TTRPC_ADDRESS, GOMAXPROCS):
//!
//! ```text
//! --root /run/containerd/runc/<ns> --log <bundle>/log.json --log-format json create --bundle <bundle> --pid-file <bundle>/init.pid [--console-socket /tmp/ptyNNN/pty.sock] <id>
//! --root ... --log ... --log-format json start <id>
//! --root ... --log ... --log-format json exec --process /tmp/runc-processNNN [--console-socket /tmp/ptyNNN/pty.sock] --detach --pid-file <bundle>/<exec-id>.pid <id>
//! --root ... --log ... --log-format json ps --format json <id>          (ctr task ps)
//! --root ... --log ... --log-format json pause <id> / resume <id>
//! --root ... --log ... --log-format json kill <id> 15 | kill <id> 9
//! --root ... --log ... --log-format json kill --all <id> 9              (ctr task delete --force)
//! --root ... --log ... --log-format json delete <id>
//! --root ... --log ... --log-format json delete --force <id>            (shim cleanup, after every delete / failed create)
//! ```
//! On a failed `create` the shim reports the last `"level":"error"` message
//! of the `--log` JSON file to the client.
//!
//! podman 4.3.1 + conmon, cgroupfs (no `--root`, no `--log`: default runtime
//! root; errors are read from the runtime's stderr; env has
//! `XDG_RUNTIME_DIR=` (empty), `_OCI_SYNCPIPE`, `_OCI_STARTPIPE`; cwd of
//! `create` is podman's cwd, not the bundle; all paths are absolute):
//!
//! ```text
//! create --bundle <root>/overlay-containers/<cid>/userdata --pid-file <runroot>/overlay-containers/<cid>/userdata/pidfile [--console-socket /tmp/conmon-term.XXXX] <cid>
//! start <cid>
//! exec --pid-file <userdata>/<exec-id>/exec_pid --process <userdata>/<exec-id>/exec-process-NNN --detach [--tty --console-socket /tmp/conmon-term.XXXX] <cid>
//! pause <cid> / resume <cid>
//! kill <cid> 15 | kill <cid> 9
//! delete --force <cid>
//! ```
//! podman turns a runtime error containing "no such file or directory" for
//! the process binary into exit status 127. Podman's spec uses a seccomp
//! profile (defaultErrnoRet 38), `net.ipv4.ping_group_range` sysctl, a
//! `cgroup` mount at /sys/fs/cgroup, pids limit 2048 and a devices cgroup
//! list with only "deny all" (default devices must still be allowed).

#![allow(dead_code)]

pub mod checks;
pub mod containerd;
pub mod image;
pub mod podman;
pub mod util;
