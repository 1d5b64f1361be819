//! Seccomp support: compile an OCI `linux.seccomp` config into a BPF program (with libseccomp),
//! load it into the container process, and hand a `SCMP_ACT_NOTIFY` listener fd to the agent.
//!
//! Flow inside the container init (forked child):
//!
//! 1. [`prepare`] early (it allocates; it validates the profile and compiles it to BPF).
//! 2. Make sure loading is permitted: the kernel only accepts a filter from a task that has
//!    `no_new_privs` set **or** `CAP_SYS_ADMIN` in its user namespace. runc's order is: if
//!    `process.noNewPrivileges` is true, set NNP and load seccomp as late as possible (right
//!    before `execve`, so the runtime's own syscalls are not filtered); if it is false, load the
//!    filter *before* dropping capabilities (while `CAP_SYS_ADMIN` is still held). This module
//!    never touches the NNP bit; ordering is the caller's business.
//! 3. [`load`] (no allocation on the success path). If the profile uses `SCMP_ACT_NOTIFY` it
//!    returns the listener fd; the runtime then sends it to `listenerPath` with
//!    [`send_listener_fd`] (payload built with [`listener_payload`]).
//!
//! The program is loaded with the raw `seccomp(2)` syscall (not `seccomp_load`) because, like
//! runc, we prepend an `-ENOSYS` stub (see [`enosys`]) so syscalls newer than the profile get
//! ENOSYS instead of the default errno, and we control the filter flags ourselves.

mod enosys;
mod listener;
#[cfg(test)]
mod tests;

pub use listener::{listener_payload, send_listener_fd};

use anyhow::{anyhow, bail, Context, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};
use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_ulong = 1 << 0;
const SECCOMP_FILTER_FLAG_LOG: libc::c_ulong = 1 << 1;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: libc::c_ulong = 1 << 2;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
const SECCOMP_FILTER_FLAG_TSYNC_ESRCH: libc::c_ulong = 1 << 4;
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;

/// hull's default profile (`seccomp-profiles/default.json`, an OCI `linux.seccomp` object), e.g.
/// for `hull spec` or as a starting point for users.
#[cfg(test)]
pub const DEFAULT_PROFILE_JSON: &str = include_str!("../../seccomp-profiles/default.json");

/// Kernel limit on the length of a classic BPF program (`BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;
/// Syscalls have at most six arguments.
const MAX_ARGS: usize = 6;

/// Compiled, ready-to-load filter (built early in the child, while allocation is still
/// convenient). Loading it ([`load`]) does not allocate.
pub struct Prepared {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    notify: bool,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .field("notify", &self.notify)
            .finish()
    }
}

impl Prepared {
    /// Whether the filter uses `SCMP_ACT_NOTIFY` (so [`load`] returns a listener fd).
    pub fn uses_notify(&self) -> bool {
        self.notify
    }
}

fn action_name(a: LinuxSeccompAction) -> String {
    a.to_string()
}

/// Translates an OCI action (+ errnoRet) into a libseccomp action. `field` names the JSON field
/// for error messages.
fn translate_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
) -> Result<ScmpAction> {
    let errno = |default: u32| -> Result<u16> {
        let v = errno_ret.unwrap_or(default);
        u16::try_from(v).map_err(|_| anyhow!("{field}: errno value {v} out of range (0..=65535)"))
    };
    let a = match action {
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno(libc::EPERM as u32)? as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno(libc::EPERM as u32)?),
        other => {
            if let Some(v) = errno_ret {
                bail!(
                    "{field}: errno return code {v} is not supported with action {} \
                     (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one)",
                    action_name(other)
                );
            }
            match other {
                LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
                    ScmpAction::KillThread
                }
                LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
                LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
                LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
                LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
                LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
                LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace => {
                    unreachable!()
                }
            }
        }
    };
    Ok(a)
}

fn translate_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::native(),
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// Architectures whose syscalls can reach a kernel of the given native architecture. Filter code
/// for any other architecture is dead weight (and counts against the 4096-instruction limit), so
/// it is left out. `None`: keep everything the profile lists.
fn runnable_arches(native: ScmpArch) -> Option<&'static [ScmpArch]> {
    match native {
        ScmpArch::X8664 => Some(&[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32]),
        ScmpArch::Aarch64 => Some(&[ScmpArch::Aarch64, ScmpArch::Arm]),
        _ => None,
    }
}

fn translate_op(arg: &LinuxSeccompArg, field: &str) -> Result<ScmpArgCompare> {
    if arg.index() >= MAX_ARGS {
        bail!(
            "{field}.index: {} out of range (syscalls have at most {MAX_ARGS} arguments)",
            arg.index()
        );
    }
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // OCI: value is the mask, valueTwo the value the masked argument must equal.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return Ok(ScmpArgCompare::new(
                arg.index() as u32,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            ))
        }
    };
    Ok(ScmpArgCompare::new(arg.index() as u32, op, arg.value()))
}

fn filter_flag(flag: LinuxSeccompFilterFlag) -> libc::c_ulong {
    match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        }
    }
}

/// Validate and compile the OCI seccomp config. Errors name the bad field/value (unknown syscall
/// names are skipped like runc does: libseccomp resolves names per arch; a name unknown on all
/// arches is ignored).
///
/// Semantics (OCI runtime spec, config-linux.md#seccomp, with runc's interpretation):
/// - `defaultAction` / per-rule `action`: every OCI action; `SCMP_ACT_KILL` is KILL_THREAD.
///   `SCMP_ACT_NOTIFY` is rejected as default action and for `write` (runc does the same: the
///   runtime itself needs `write` after loading). NOTIFY rules require `listenerPath`.
/// - `defaultErrnoRet` / `errnoRet`: errno for ERRNO and TRACE (default EPERM); given with any
///   other action it is an error.
/// - `architectures`: added to the native arch (always present). Arches that cannot run on this
///   kernel (e.g. aarch64 on an x86_64 host) are skipped to keep the program small.
/// - `flags`: TSYNC, LOG, SPEC_ALLOW, WAIT_KILLABLE_RECV (the latter only applies when there is a
///   notify listener and is dropped otherwise, as the kernel rejects it without one).
/// - `args`: conditions on different argument indices in one entry are ANDed in one rule. If an
///   entry has several conditions on the *same* index, each condition becomes its own rule (ORed)
///   — runc's rule, which profiles such as Docker's rely on.
/// - A rule whose action (incl. errno) equals the default action is skipped.
/// - When the default action is not ALLOW/LOG/TRACE and the default errno is not ENOSYS,
///   syscalls numbered above the largest syscall the profile names (per arch) return ENOSYS.
pub fn prepare(seccomp: &LinuxSeccomp) -> Result<Prepared> {
    let default_action = seccomp.default_action();
    if default_action == LinuxSeccompAction::ScmpActNotify {
        bail!("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action");
    }
    let default = translate_action(
        default_action,
        seccomp.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;

    let mut ctx = ScmpFilterContext::new(default).context("seccomp: creating libseccomp filter")?;

    // Architectures.
    let native = ScmpArch::native();
    let runnable = runnable_arches(native);
    let mut arches = vec![native];
    for &arch in seccomp.architectures().iter().flatten() {
        let a = translate_arch(arch);
        if arches.contains(&a) {
            continue;
        }
        if let Some(r) = runnable {
            if !r.contains(&a) {
                continue;
            }
        }
        ctx.add_arch(a).with_context(|| {
            format!("linux.seccomp.architectures: adding {arch} is not supported by libseccomp")
        })?;
        arches.push(a);
    }

    let mut flags: libc::c_ulong = 0;
    for &flag in seccomp.flags().iter().flatten() {
        flags |= filter_flag(flag);
    }

    // Rules.
    let mut notify = false;
    let mut rules = 0usize;
    let mut names_seen: Vec<&str> = Vec::new();
    for (i, call) in seccomp.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let action = translate_action(
            call.action(),
            call.errno_ret(),
            &format!("{field}.errnoRet"),
        )?;
        if call.action() == LinuxSeccompAction::ScmpActNotify {
            if call.names().iter().any(|n| n == "write") {
                bail!("{field}: SCMP_ACT_NOTIFY cannot be used for the write syscall");
            }
            notify = true;
        }
        let mut conds = Vec::new();
        let mut per_index = [0usize; MAX_ARGS];
        for (j, arg) in call.args().iter().flatten().enumerate() {
            conds.push(translate_op(arg, &format!("{field}.args[{j}]"))?);
            per_index[arg.index()] += 1;
        }
        let split = per_index.iter().any(|&c| c > 1);
        for name in call.names() {
            if name.is_empty() {
                bail!("{field}.names: empty syscall name");
            }
            names_seen.push(name);
            if action == default {
                // libseccomp refuses rules that repeat the default action.
                continue;
            }
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                // Unknown to libseccomp on the native arch: ignored, like runc.
                continue;
            };
            let res = if conds.is_empty() {
                ctx.add_rule(action, sys)
            } else if split {
                conds
                    .iter()
                    .try_for_each(|c| {
                        ctx.add_rule_conditional(action, sys, std::slice::from_ref(c))
                            .map(|_| ())
                    })
                    .map(|_| &mut ctx)
            } else {
                ctx.add_rule_conditional(action, sys, &conds)
            };
            res.with_context(|| format!("{field}: adding rule for syscall {name:?}"))?;
            rules += 1;
        }
    }
    if notify
        && seccomp
            .listener_path()
            .as_ref()
            .is_none_or(|p| p.as_os_str().is_empty())
    {
        bail!("seccomp listenerPath is not set (required by SCMP_ACT_NOTIFY rules)");
    }
    if notify {
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if flags & SECCOMP_FILTER_FLAG_TSYNC != 0 {
            // TSYNC and NEW_LISTENER conflict unless TSYNC_ESRCH (Linux 5.7) is also given.
            flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    } else {
        flags &= !SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }
    if rules > 32 {
        // Binary-tree syscall dispatch; libseccomp <= 2.5.4 misbehaves with it on tiny filters.
        let _ = ctx.set_ctl_optimize(2);
    }

    let filter = export_bpf(&ctx)?;

    // ENOSYS stub for syscalls newer than the profile.
    let default_errno_enosys = matches!(default, ScmpAction::Errno(e) if e == libc::ENOSYS);
    let permissive = matches!(
        default,
        ScmpAction::Allow | ScmpAction::Log | ScmpAction::Trace(_)
    );
    let mut program = Vec::new();
    if !permissive && !default_errno_enosys {
        let mut max_per_arch = Vec::new();
        for &arch in &arches {
            let max = names_seen
                .iter()
                .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
                .map(|s| s.as_raw_syscall())
                .filter(|&nr| nr > 0)
                .max();
            if let Some(max) = max {
                max_per_arch.push((arch, max as u32));
            }
        }
        program = enosys::stub(&max_per_arch);
    }
    program.extend(filter);
    if program.len() > BPF_MAXINSNS {
        bail!(
            "linux.seccomp: compiled filter has {} BPF instructions, more than the kernel limit of {BPF_MAXINSNS}",
            program.len()
        );
    }
    Ok(Prepared {
        program,
        flags,
        notify,
    })
}

/// Exports libseccomp's BPF program via a memfd (`seccomp_export_bpf_mem` needs libseccomp 2.6).
fn export_bpf(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    // SAFETY: plain syscall; the returned fd is owned by the File below.
    let fd = unsafe { libc::memfd_create(c"hull-seccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("seccomp: memfd_create");
    }
    // SAFETY: fd is a fresh, valid descriptor we own.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    ctx.export_bpf(&file)
        .context("seccomp: exporting BPF program from libseccomp")?;
    file.rewind().context("seccomp: rewinding BPF memfd")?;
    let mut raw = Vec::new();
    file.read_to_end(&mut raw)
        .context("seccomp: reading BPF program")?;
    let size = std::mem::size_of::<libc::sock_filter>();
    if raw.len() % size != 0 || raw.is_empty() {
        bail!(
            "seccomp: libseccomp exported a malformed BPF program ({} bytes)",
            raw.len()
        );
    }
    Ok(raw
        .chunks_exact(size)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// Load the filter into the calling thread/process. If the profile uses SCMP_ACT_NOTIFY, returns
/// the listener fd (the caller sends it to `listenerPath` together with the container state, see
/// [`send_listener_fd`]).
///
/// The caller must have `no_new_privs` set or hold `CAP_SYS_ADMIN`; otherwise the kernel answers
/// EACCES. With the `TSYNC` flag all threads of the process get the filter. Does not allocate
/// unless it fails.
pub fn load(p: &Prepared) -> Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        len: p.program.len() as u16,
        filter: p.program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points to a valid program that outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            p.flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        let err = std::io::Error::last_os_error();
        let hint = match err.raw_os_error() {
            Some(libc::EACCES) => " (loading a filter needs no_new_privs or CAP_SYS_ADMIN)",
            Some(libc::EINVAL) => " (filter flags not supported by this kernel?)",
            _ => "",
        };
        return Err(anyhow!(
            "seccomp: loading filter (flags {:#x}) failed: {err}{hint}",
            p.flags
        ));
    }
    if p.flags & SECCOMP_FILTER_FLAG_TSYNC != 0 && !p.notify && ret > 0 {
        return Err(anyhow!(
            "seccomp: TSYNC failed: thread {ret} could not be synchronized"
        ));
    }
    if p.notify {
        // SAFETY: with NEW_LISTENER the kernel returns a fresh fd we now own.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }))
    } else {
        Ok(None)
    }
}
