//! Unit jobs: starting and stopping a unit, and waiting for the job's JobRemoved signal (from
//! systemd itself, not any bus client) to learn how it ended.

use super::bus::{Systemd, IFACE};
use crate::cgroups::dbus::{self, Value};
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

/// How long one StopUnit attempt waits for its reply before retrying on a new connection.
const STOP_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a start/stop job may take (runc waits 30 s too).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

impl Systemd {
    /// Waits for the JobRemoved signal of `job`; returns the job's result ("done", "failed",
    /// "canceled", ...).
    fn wait_job_result(&mut self, job: &str, unit: &str, what: &str) -> Result<String> {
        let deadline = Instant::now() + JOB_TIMEOUT;
        let from = self.systemd_name.clone();
        let sig = self
            .conn
            .wait_signal(deadline, |m| {
                (from.is_none() || m.sender == from)
                    && m.member.as_deref() == Some("JobRemoved")
                    && m.interface.as_deref() == Some(IFACE)
                    && m.args()
                        .ok()
                        .and_then(|a| a.get(1).and_then(|v| v.as_str().map(|s| s == job)))
                        .unwrap_or(false)
            })
            .with_context(|| format!("waiting for systemd to {what} unit {unit}"))?;
        let args = sig.args()?;
        Ok(args
            .get(3)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }

    fn wait_job(&mut self, job: &str, unit: &str, what: &str) -> Result<()> {
        let result = self.wait_job_result(job, unit, what)?;
        if result != "done" {
            bail!("systemd failed to {what} unit {unit}: job result {result:?} (see `journalctl -u {unit}`)");
        }
        Ok(())
    }

    /// StartTransientUnit + wait for the job. A unit of that name left over in the failed
    /// state is reset once and the start retried.
    pub fn start_transient_unit(&mut self, unit: &str, props: Vec<Value>) -> Result<()> {
        let args = [
            Value::str(unit),
            Value::str("replace"),
            Value::Array("(sv)".into(), props),
            Value::Array("(sa(sv))".into(), vec![]),
        ];
        let mut r = self.call("StartTransientUnit", &args);
        if let Err(e) = &r {
            if dbus::error_name(e) == Some("org.freedesktop.systemd1.UnitExists") {
                let _ = self.call("ResetFailedUnit", &[Value::str(unit)]);
                r = self.call("StartTransientUnit", &args);
            }
        }
        let r = r.with_context(|| format!("creating systemd unit {unit}"))?;
        let job = r
            .first()
            .and_then(Value::as_str)
            .context("StartTransientUnit returned no job")?
            .to_string();
        if let Err(e) = self.wait_job(&job, unit, "start") {
            // The unit is ours (our job made it): don't leave it active or failed behind.
            let _ = self.call("StopUnit", &[Value::str(unit), Value::str("replace")]);
            let _ = self.call("ResetFailedUnit", &[Value::str(unit)]);
            return Err(e);
        }
        Ok(())
    }

    /// StopUnit + wait, retried on a new connection when systemd does not answer (systemd 252
    /// sometimes drops the reply when the call races with the garbage collection of the
    /// just-emptied scope). A unit that is not loaded (any more) is not an error.
    pub fn stop_unit_retrying(unit: &str, user: bool) -> Result<()> {
        let deadline = Instant::now() + JOB_TIMEOUT;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = Systemd::connect_to(user).and_then(|mut sd| {
                sd.timeout = STOP_ATTEMPT_TIMEOUT;
                sd.stop_unit(unit)
            });
            match r {
                Ok(()) => return Ok(()),
                Err(e) if dbus::error_name(&e).is_none() && Instant::now() < deadline => {
                    crate::logging::debug(&format!(
                        "stopping systemd unit {unit} (attempt {attempt}): {e:#}; retrying"
                    ));
                    std::thread::sleep(Duration::from_millis(50 * attempt.min(10)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// StopUnit + wait. A unit that is not loaded (any more) is not an error.
    pub fn stop_unit(&mut self, unit: &str) -> Result<()> {
        let r = match self.call("StopUnit", &[Value::str(unit), Value::str("replace")]) {
            Ok(r) => r,
            Err(e) if dbus::error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        let job = r
            .first()
            .and_then(Value::as_str)
            .context("StopUnit returned no job")?
            .to_string();
        let result = self.wait_job_result(&job, unit, "stop")?;
        if result != "done" {
            // As runc: the unit is going away either way; say so and carry on.
            crate::logging::warn(&format!("systemd stop job of unit {unit} ended {result:?}"));
        }
        // A scope whose processes were killed may end up "failed": drop that record.
        let _ = self.call("ResetFailedUnit", &[Value::str(unit)]);
        Ok(())
    }
}
