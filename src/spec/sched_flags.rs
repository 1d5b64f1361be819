//! runtime-spec names the scheduler flags `SCHED_FLAG_RESET_ON_FORK`, `SCHED_FLAG_DL_OVERRUN`,
//! ..., but oci-spec 0.10 deserializes two of them under other spellings (its derived names),
//! so a config using the spec's own words would be refused as invalid JSON. When the direct
//! parse fails on a document that uses a spec flag name, the flags are rewritten to the
//! crate's spelling and the document parsed again.

use oci_spec::runtime::LinuxSchedulerFlag as Flag;
use serde_json::Value;

/// The spec's name of every flag, and the kernel's bit for it (include/uapi/linux/sched.h).
pub const FLAGS: &[(&str, Flag, u64)] = &[
    ("SCHED_FLAG_RESET_ON_FORK", Flag::SchedResetOnFork, 0x01),
    ("SCHED_FLAG_RECLAIM", Flag::SchedFlagReclaim, 0x02),
    ("SCHED_FLAG_DL_OVERRUN", Flag::SchedFlagDLOverrun, 0x04),
    ("SCHED_FLAG_KEEP_POLICY", Flag::SchedFlagKeepPolicy, 0x08),
    ("SCHED_FLAG_KEEP_PARAMS", Flag::SchedFlagKeepParams, 0x10),
    (
        "SCHED_FLAG_UTIL_CLAMP_MIN",
        Flag::SchedFlagUtilClampMin,
        0x20,
    ),
    (
        "SCHED_FLAG_UTIL_CLAMP_MAX",
        Flag::SchedFlagUtilClampMax,
        0x40,
    ),
];

/// Could the document hold a scheduler (its policy and flag names all start with SCHED_)?
/// Only asked after a failed parse.
pub fn mentioned(raw: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"SCHED_";
    raw.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

/// Rewrites the spec names in `scheduler.flags` of a process object to the crate's spelling;
/// a name that is neither the spec's nor the crate's is an error that lists the spec's names.
pub fn rewrite_process(process: &mut Value) -> Result<(), String> {
    let Some(flags) = process
        .get_mut("scheduler")
        .and_then(|s| s.get_mut("flags"))
        .and_then(|f| f.as_array_mut())
    else {
        return Ok(());
    };
    for f in flags.iter_mut() {
        let Some(name) = f.as_str() else { continue };
        let known = FLAGS
            .iter()
            .find(|(n, flag, _)| *n == name || serde_json::to_value(flag).is_ok_and(|v| v == name));
        let Some((_, flag, _)) = known else {
            let names: Vec<&str> = FLAGS.iter().map(|(n, _, _)| *n).collect();
            return Err(format!(
                "unknown process.scheduler flag {name:?}, expected one of {}",
                names.join(", ")
            ));
        };
        if let Ok(crate_name) = serde_json::to_value(flag) {
            *f = crate_name;
        }
    }
    Ok(())
}

/// The kernel bit of a flag.
pub fn bit(flag: Flag) -> u64 {
    FLAGS
        .iter()
        .find(|(_, f, _)| *f == flag)
        .map(|(_, _, b)| *b)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_flag_names_parse() {
        let raw = br#"{"cwd":"/","args":["x"],"user":{"uid":0,"gid":0},
            "scheduler":{"policy":"SCHED_FIFO","priority":1,
              "flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN","SCHED_FLAG_RECLAIM"]}}"#;
        let p = crate::spec::parse_process(raw).unwrap();
        let flags = p.scheduler().as_ref().unwrap().flags().clone().unwrap();
        let bits: u64 = flags.iter().map(|f| bit(*f)).sum();
        assert_eq!(bits, 0x07);
        let bad = br#"{"cwd":"/","user":{"uid":0,"gid":0},"scheduler":{"policy":"SCHED_FIFO","flags":["SCHED_FLAG_NOPE"]}}"#;
        let e = crate::spec::parse_process(bad).unwrap_err().to_string();
        assert!(e.contains("SCHED_FLAG_DL_OVERRUN"), "the spec's names: {e}");
    }
}
