//! Bounded fuzz tests of the parsers of cgroup and /proc files: /proc/<pid>/cgroup and
//! mountinfo (whose paths anyone who can create a cgroup or a mount point chooses), the stats
//! files (memory.stat, io.stat, blkio, PSI, cgroup.procs) and devices.list. Real samples are
//! mutated, and random text is built from the files' own tokens. No input may panic.

use super::devices::Emulator;
use super::stats::{parse_blkio_v1, parse_cpu_list, parse_io_stat_v2};
use super::util::{parse_flat_keyed, parse_pids, parse_psi, parse_u64};
use super::{parse_mountinfo_cgroups, parse_proc_cgroup, unescape_mountinfo};
use crate::util::fuzz::{mutate, run, Recorder, Rng};
use std::time::Duration;

const SAMPLES: &[&str] = &[
    "12:pids:/user.slice/user-0.slice\n1:name=systemd:/init.scope\n0::/hull/x\n",
    "36 25 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory\n\
     35 25 0:30 /a\\040b /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n",
    "cache 1234\nrss 5678\ntotal_rss 5678\nhierarchical_memory_limit 9223372036854771712\n",
    "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1\n",
    "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\n8:0 Async 2\n8:0 Total 12288\nTotal 12288\n",
    "some avg10=0.12 avg60=1.50 avg300=0.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n",
    "a *:* rwm\nc 1:3 rwm\nb 8:* r\nc 136:* rw\n",
    "0-3,7,9-11\n",
    "1\n42\n4194304\n",
    "max\n",
    "-1\n",
];

/// Tokens of those files, to build random text that is often almost well formed.
const TOKENS: &[&str] = &[
    "0",
    "1",
    "9",
    "42",
    "-1",
    "max",
    "18446744073709551616",
    ":",
    "::",
    "-",
    ",",
    " ",
    "  ",
    "\n",
    "=",
    "\\",
    "\\040",
    "\\777",
    "\\0",
    "/",
    "a",
    "c",
    "b",
    "*",
    "rwm",
    "some",
    "full",
    "avg10",
    "total",
    "rbytes",
    "Read",
    "Total",
    " - ",
    "cgroup",
    "cgroup2",
    "name=",
    "memory",
    "é",
    "\u{fffd}",
];

fn parse_everything(text: &str) {
    let _ = parse_proc_cgroup(text);
    let _ = parse_mountinfo_cgroups(text);
    let _ = unescape_mountinfo(text);
    let _ = parse_flat_keyed(text);
    let _ = parse_pids(text);
    let _ = parse_psi(text);
    let _ = parse_u64(text);
    let _ = parse_blkio_v1(text);
    let _ = parse_io_stat_v2(text);
    let cpus = parse_cpu_list(text);
    // A range is at most u16::MAX wide, so the list is bounded by the number of ranges.
    assert!(cpus.len() <= (1 << 16) * (1 + text.matches(',').count()));
    if let Some(e) = Emulator::from_list(text) {
        let _ = e.transition(&Emulator::from_rules(&[]));
    }
}

#[test]
fn cgroup_file_parsers_survive_random_input() {
    run(
        "cgroup file parsers",
        0x6367_7270,
        20_000,
        Duration::from_secs(10),
        {
            |rng: &mut Rng, rec: &Recorder| {
                let bytes = match rng.below(3) {
                    0 => rng.text(TOKENS, 64).into_bytes(),
                    1 => rng.bytes(128),
                    _ => {
                        let mut b = rng.pick(SAMPLES).as_bytes().to_vec();
                        for _ in 0..1 + rng.below(6) {
                            mutate(rng, &mut b);
                        }
                        b
                    }
                };
                rec.set(&bytes);
                parse_everything(&String::from_utf8_lossy(&bytes));
            }
        },
    );
}

/// Found by the test above: an octal escape above \377 overflowed a byte (a panic in debug
/// builds, a wrong byte in release). The kernel never writes one; it stays as it is.
#[test]
fn mountinfo_escapes_above_a_byte_are_kept_verbatim() {
    assert_eq!(unescape_mountinfo("a\\040b"), "a b");
    assert_eq!(unescape_mountinfo("a\\777b"), "a\\777b");
    assert_eq!(unescape_mountinfo("a\\400"), "a\\400");
    assert_eq!(unescape_mountinfo("\\377"), "\u{fffd}");
}
