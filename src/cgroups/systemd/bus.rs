//! The client of systemd's manager object over D-Bus: connecting (private socket or system
//! bus), method calls, and the unit queries and property updates that need no job.

use super::user;
use crate::cgroups::dbus::{self, Conn, Message, Value};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) const DEST: &str = "org.freedesktop.systemd1";
pub(super) const OBJ: &str = "/org/freedesktop/systemd1";
pub(super) const IFACE: &str = "org.freedesktop.systemd1.Manager";
/// systemd's private peer-to-peer socket (root only).
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// The system bus socket (used when the private socket cannot be used).
pub const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// The leading number of systemd's Version property ("252.38-1~deb12u1" → 252).
pub fn parse_version(v: &str) -> u32 {
    let v = v.trim().trim_start_matches('v');
    let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap_or(0)
}

/// A connection to systemd's manager object.
pub struct Systemd {
    pub(super) conn: Conn,
    /// Per-call reply timeout.
    pub(super) timeout: Duration,
    /// On the system bus: systemd's unique bus name. Only signals from it count (any local
    /// client could send a forged JobRemoved); None on the private peer-to-peer socket.
    pub(super) systemd_name: Option<String>,
}

impl Systemd {
    /// Connects over the private socket when root (like runc), else — or when that fails, or
    /// when HULL_SYSTEMD_BUS=1 — over the system bus (with Hello, a match rule for JobRemoved
    /// and systemd's Subscribe so that it emits job signals).
    pub fn connect() -> Result<Systemd> {
        let mut errors = Vec::new();
        let force_bus = std::env::var_os("HULL_SYSTEMD_BUS").is_some_and(|v| v == "1");
        let private = Path::new(PRIVATE_SOCKET);
        if !force_bus && unsafe { libc::geteuid() } == 0 && private.exists() {
            match Conn::connect(private, false, CALL_TIMEOUT) {
                Ok(conn) => {
                    return Ok(Systemd {
                        conn,
                        timeout: CALL_TIMEOUT,
                        systemd_name: None,
                    })
                }
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        let bus = std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
            .ok()
            .and_then(|a| {
                a.split(';')
                    .filter_map(|t| t.strip_prefix("unix:"))
                    .flat_map(|t| t.split(','))
                    .find_map(|kv| kv.strip_prefix("path=").map(PathBuf::from))
            })
            .unwrap_or_else(|| PathBuf::from(SYSTEM_BUS));
        match Self::connect_bus(&bus) {
            Ok(s) => Ok(s),
            Err(e) => {
                errors.push(format!("{e:#}"));
                bail!("cannot connect to systemd: {}", errors.join("; "))
            }
        }
    }

    /// The system instance (root's containers) or the user's (`user`: rootless).
    pub fn connect_to(user: bool) -> Result<Systemd> {
        if user {
            Self::connect_user()
        } else {
            Self::connect()
        }
    }

    /// Connects to the user's systemd instance over the user's session bus (see
    /// [`super::user`]); the error says which bus could not be reached.
    pub fn connect_user() -> Result<Systemd> {
        let addr = user::session_bus_address(
            std::env::var("DBUS_SESSION_BUS_ADDRESS").ok(),
            std::env::var("XDG_RUNTIME_DIR").ok(),
            user::systemctl_show_environment,
        )?;
        let uid = user::detect_uid()?;
        let conn = match user::parse_address(&addr)? {
            user::SocketAddr::Path(p) => Conn::connect_bus_as(&p, uid, CALL_TIMEOUT),
            user::SocketAddr::Abstract(a) => Conn::connect_abstract(&a, uid, CALL_TIMEOUT),
        }
        .with_context(|| format!("cannot connect to the user's D-Bus at {addr:?} as uid {uid}"))?;
        Self::on_bus(conn).context("cannot reach the user's systemd instance on the user's D-Bus")
    }

    fn connect_bus(path: &Path) -> Result<Systemd> {
        Self::on_bus(Conn::connect(path, true, CALL_TIMEOUT)?)
    }

    /// Sets up a bus connection for unit jobs: a match rule for JobRemoved, systemd's unique
    /// name (only its signals count) and Subscribe, so that it emits job signals.
    fn on_bus(mut conn: Conn) -> Result<Systemd> {
        conn.call(
            Message::method_call(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "AddMatch",
                &[Value::str(
                    "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved',path='/org/freedesktop/systemd1'",
                )],
            )?,
            CALL_TIMEOUT,
        )
        .context("D-Bus AddMatch")?;
        let owner = conn
            .call(
                Message::method_call(
                    Some("org.freedesktop.DBus"),
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "GetNameOwner",
                    &[Value::str(DEST)],
                )?,
                CALL_TIMEOUT,
            )
            .context("D-Bus GetNameOwner")?;
        let systemd_name = owner
            .first()
            .and_then(Value::as_str)
            .map(str::to_string)
            .context("GetNameOwner returned no name")?;
        let mut s = Systemd {
            conn,
            timeout: CALL_TIMEOUT,
            systemd_name: Some(systemd_name),
        };
        s.call("Subscribe", &[])?;
        Ok(s)
    }

    pub(super) fn call(&mut self, member: &str, args: &[Value]) -> Result<Vec<Value>> {
        let m = Message::method_call(Some(DEST), OBJ, IFACE, member, args)?;
        self.conn
            .call(m, self.timeout)
            .with_context(|| format!("systemd {member}"))
    }

    /// A string property of the manager object (e.g. the user manager's ControlGroup).
    pub fn manager_string(&mut self, name: &str) -> Result<String> {
        let m = Message::method_call(
            Some(DEST),
            OBJ,
            "org.freedesktop.DBus.Properties",
            "Get",
            &[Value::str(IFACE), Value::str(name)],
        )?;
        let r = self
            .conn
            .call(m, self.timeout)
            .with_context(|| format!("reading systemd's {name} property"))?;
        match r.first() {
            Some(Value::Variant(v)) => v.as_str().map(str::to_string),
            _ => None,
        }
        .with_context(|| format!("systemd's {name} property is not a string"))
    }

    /// systemd's major version (0 if unknown).
    pub fn version(&mut self) -> Result<u32> {
        let m = Message::method_call(
            Some(DEST),
            OBJ,
            "org.freedesktop.DBus.Properties",
            "Get",
            &[Value::str(IFACE), Value::str("Version")],
        )?;
        let r = self
            .conn
            .call(m, CALL_TIMEOUT)
            .context("reading systemd's version")?;
        Ok(match r.first() {
            Some(Value::Variant(v)) => v.as_str().map(parse_version).unwrap_or(0),
            _ => 0,
        })
    }

    /// The unit's current InvocationID as hex, or None when no such unit is loaded.
    pub fn invocation_id(&mut self, unit: &str) -> Result<Option<String>> {
        let path = match self.call("GetUnit", &[Value::str(unit)]) {
            Ok(r) => match r.first().and_then(Value::as_str) {
                Some(p) => p.to_string(),
                None => return Ok(None),
            },
            Err(e) if dbus::error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let m = Message::method_call(
            Some(DEST),
            &path,
            "org.freedesktop.DBus.Properties",
            "Get",
            &[
                Value::str("org.freedesktop.systemd1.Unit"),
                Value::str("InvocationID"),
            ],
        )?;
        let r = self
            .conn
            .call(m, self.timeout)
            .context("reading the unit's InvocationID")?;
        let bytes = match r.first() {
            Some(Value::Variant(v)) => match v.as_ref() {
                Value::Array(_, items) => items
                    .iter()
                    .filter_map(|b| match b {
                        Value::Byte(b) => Some(*b),
                        _ => None,
                    })
                    .collect::<Vec<u8>>(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        Ok(Some(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// AttachProcessesToUnit(unit, subcgroup, pids).
    pub fn attach_processes(&mut self, unit: &str, sub: &str, pids: &[u32]) -> Result<()> {
        let pids = pids.iter().map(|&p| Value::U32(p)).collect();
        self.call(
            "AttachProcessesToUnit",
            &[
                Value::str(unit),
                Value::str(sub),
                Value::Array("u".into(), pids),
            ],
        )
        .map(|_| ())
    }

    /// SetUnitProperties(unit, runtime=true, props).
    pub fn set_unit_properties(&mut self, unit: &str, props: Vec<Value>) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        self.call(
            "SetUnitProperties",
            &[
                Value::str(unit),
                Value::Bool(true),
                Value::Array("(sv)".into(), props),
            ],
        )
        .map(|_| ())
    }
}
