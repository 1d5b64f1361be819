//! Side-by-side timing / peak-RSS benchmark of OCI runtimes (hull vs crun vs runc).
//!
//! Single file, std only (no crates): benches/run.sh compiles it with `rustc -O`,
//! builds the bundles, and runs it inside the Debian sid root (or, with SID=0, in a
//! private mount namespace of the host), with /sys/fs/cgroup/unified unmounted on a
//! hybrid host so that crun works.
//!
//! Per iteration every runtime does, all tasks in a fresh random order each
//! iteration (so drift, noise and carry-over hit all runtimes alike):
//!   (a) create --pid-file -> start -> wait for the container's /bin/true to
//!       exit -> delete                                     ("lifecycle")
//!   (b) run                                                ("run")
//!   (c) exec /bin/true in a long-running container of its own ("exec")
//! Then a few rounds of
//!   (d) 100 lifecycles with 8 in flight at once            ("scale"),
//! the runtimes again in random order each round.
//!
//! Time: wall clock around fork+exec+wait4 of each runtime command; the
//! lifecycle time also includes waiting for the container to exit.
//!
//! RSS: ru_maxrss from wait4() of the runtime process. The kernel folds in the
//! max RSS of descendants the runtime reaped itself (runc's `runc init`
//! bootstrap stages; for `run` and `exec` also the /bin/true it reaps). The
//! container init of (a) is measured while it waits for `start`: VmHWM of
//! /proc/<pid>/status right after `create` returned, i.e. the runtime's own code
//! in the container before exec ("init").
//! ru_maxrss also includes the high-water RSS of the mm a process had before
//! exec. That is why this is a small compiled program that fork()s (not a
//! Python script, nor vfork/posix_spawn): the floor is the few hundred KiB of
//! this process's anonymous memory copied at fork, printed as "baseline".
//! The scale figure's RSS is the peak of the summed VmRSS of every process
//! below this one (runtime processes, their helpers, container processes),
//! sampled every 2 ms while the 100 containers go through.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "bench/report.rs"]
mod report;
use report::report;

#[repr(C)]
struct Timeval {
    _sec: i64,
    _usec: i64,
}

#[repr(C)]
struct Rusage {
    _utime: Timeval,
    _stime: Timeval,
    ru_maxrss: i64,
    _rest: [i64; 13],
}

extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, ru: *mut Rusage) -> i32;
    fn prctl(option: i32, a2: u64, a3: u64, a4: u64, a5: u64) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn getpid() -> i32;
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
}

const PR_SET_CHILD_SUBREAPER: i32 = 36;
const WNOHANG: i32 = 1;
const EINTR: i32 = 4;
const ECHILD: i32 = 10;
const SIGKILL: i32 = 9;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
const SIGHUP: i32 = 1;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

type Res<T> = Result<T, String>;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// wait4(pid) retrying on EINTR. Ok(None) on ECHILD.
fn wait_pid(pid: i32) -> Res<Option<(i32, i64)>> {
    let mut st = 0;
    let mut ru: Rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { wait4(pid, &mut st, 0, &mut ru) };
        if r == pid {
            let code = if st & 0x7f == 0 {
                (st >> 8) & 0xff
            } else {
                128 + (st & 0x7f)
            };
            return Ok(Some((code, ru.ru_maxrss)));
        }
        match errno() {
            EINTR => continue,
            ECHILD => return Ok(None),
            e => return Err(format!("wait4({pid}): errno {e}")),
        }
    }
}

fn reap_strays() {
    let mut st = 0;
    let mut ru: Rusage = unsafe { std::mem::zeroed() };
    while unsafe { wait4(-1, &mut st, WNOHANG, &mut ru) } > 0 {}
}

const TIMES: [&str; 7] = ["cycle", "create", "start", "wait", "delete", "run", "exec"];
const RSS: [&str; 6] = ["create", "start", "delete", "run", "exec", "init"];

fn ti(key: &str) -> usize {
    TIMES.iter().position(|k| *k == key).unwrap()
}

fn ri(key: &str) -> usize {
    RSS.iter().position(|k| *k == key).unwrap()
}

/// How to invoke one runtime: enough to spawn it from any thread.
#[derive(Clone)]
struct Invoker {
    name: String,
    bin: String,
    root: String,
    /// LD_LIBRARY_PATH for a runtime copied in from another distribution.
    lib: Option<String>,
}

impl Invoker {
    /// Runs `bin --root R args...` with stderr into `errfile`; (seconds, ru_maxrss KiB).
    fn spawn(&self, args: &[&str], errfile: &str) -> Res<(f64, i64)> {
        let err = File::create(errfile).map_err(|e| format!("{errfile}: {e}"))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
        if let Some(l) = &self.lib {
            cmd.env("LD_LIBRARY_PATH", l);
        }
        // A pre_exec hook makes std use fork+exec instead of posix_spawn
        // (vfork): with vfork the child's ru_maxrss would start at our whole
        // RSS, with fork only at the few anon pages copied.
        unsafe {
            cmd.pre_exec(|| Ok(()));
        }
        let t0 = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("{}: spawn {}: {e}", self.name, self.bin))?;
        let r = wait_pid(child.id() as i32)?;
        let dt = t0.elapsed().as_secs_f64();
        let (code, rss) = r.ok_or_else(|| "runtime process vanished".to_string())?;
        if code != 0 {
            let stderr = fs::read_to_string(errfile).unwrap_or_default();
            return Err(format!(
                "{}: `{} --root {} {}` exited {code}\n--- stderr ---\n{}",
                self.name,
                self.bin,
                self.root,
                args.join(" "),
                if stderr.trim().is_empty() {
                    "(empty)"
                } else {
                    stderr.trim()
                }
            ));
        }
        Ok((dt, rss))
    }
}

struct Runtime {
    inv: Invoker,
    errfile: String,
    seq: u64,
    /// The long-running container that (c) execs into.
    exec_target: Option<(String, i32)>,
    live: Arc<Mutex<Vec<(String, i32)>>>, // not yet deleted: (id, container pid or 0)
    times: Vec<Vec<f64>>,                 // indexed like TIMES, seconds
    rss: Vec<Vec<i64>>,                   // indexed like RSS, KiB
    scale: Vec<(f64, i64)>,               // per round: (wall seconds, peak total RSS KiB)
}

impl Runtime {
    fn name(&self) -> &str {
        &self.inv.name
    }

    fn spawn(&self, args: &[&str]) -> Res<(f64, i64)> {
        self.inv.spawn(args, &self.errfile)
    }
}

fn forget(live: &Mutex<Vec<(String, i32)>>, id: &str) {
    live.lock().unwrap().retain(|(i, _)| i != id);
}

/// Wait for container init `pid` to exit. We are a child subreaper, so once
/// `create` has exited the container init is normally our child; if not
/// (ECHILD), poll /proc.
fn wait_container(pid: i32) -> Res<()> {
    if wait_pid(pid)?.is_some() {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return Ok(()),
            Ok(s) => {
                let state = s.rsplit_once(')').map(|x| x.1.trim_start()).unwrap_or("");
                if state.starts_with('Z') || state.starts_with('X') {
                    return Ok(());
                }
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Err(format!("container pid {pid} did not exit within 30s"))
}

/// Peak RSS so far (VmHWM, KiB) of a process.
fn vm_hwm(pid: i32) -> Option<i64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

fn read_pid(name: &str, pidfile: &str) -> Res<i32> {
    let pid = fs::read_to_string(pidfile)
        .map_err(|e| format!("{name}: read {pidfile}: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("{name}: bad pid file {pidfile}: {e}"))?;
    let _ = fs::remove_file(pidfile);
    Ok(pid)
}

/// One create + start + wait + delete. Returns the times (create, start, wait,
/// delete), the RSS (create, start, delete) and the init's VmHWM before start.
fn one_lifecycle(
    inv: &Invoker,
    live: &Mutex<Vec<(String, i32)>>,
    id: &str,
    bundle: &str,
    pidfile: &str,
    errfile: &str,
) -> Res<([f64; 4], [i64; 3], Option<i64>)> {
    live.lock().unwrap().push((id.to_string(), 0));
    let (t_create, r_create) = inv.spawn(
        &["create", "--bundle", bundle, "--pid-file", pidfile, id],
        errfile,
    )?;
    let pid = read_pid(&inv.name, pidfile)?;
    if let Some(e) = live.lock().unwrap().iter_mut().find(|(i, _)| i == id) {
        e.1 = pid;
    }
    let init_hwm = vm_hwm(pid);
    let (t_start, r_start) = inv.spawn(&["start", id], errfile)?;
    let tw = Instant::now();
    wait_container(pid)?;
    let t_wait = tw.elapsed().as_secs_f64();
    let (t_delete, r_delete) = inv.spawn(&["delete", id], errfile)?;
    forget(live, id);
    Ok((
        [t_create, t_start, t_wait, t_delete],
        [r_create, r_start, r_delete],
        init_hwm,
    ))
}

fn lifecycle(rt: &mut Runtime, bundle: &str, tmp: &str, prefix: &str, keep: bool) -> Res<()> {
    rt.seq += 1;
    let id = format!("{prefix}-{}-c{}", rt.name(), rt.seq);
    let pidfile = format!("{tmp}/{id}.pid");
    let t0 = Instant::now();
    let (t, r, init) = one_lifecycle(&rt.inv, &rt.live, &id, bundle, &pidfile, &rt.errfile)?;
    let t_cycle = t0.elapsed().as_secs_f64();
    if keep {
        rt.times[ti("cycle")].push(t_cycle);
        for (k, v) in ["create", "start", "wait", "delete"].into_iter().zip(t) {
            rt.times[ti(k)].push(v);
        }
        for (k, v) in ["create", "start", "delete"].into_iter().zip(r) {
            rt.rss[ri(k)].push(v);
        }
        if let Some(v) = init {
            rt.rss[ri("init")].push(v);
        }
    }
    Ok(())
}

fn run_once(rt: &mut Runtime, bundle: &str, prefix: &str, keep: bool) -> Res<()> {
    rt.seq += 1;
    let id = format!("{prefix}-{}-r{}", rt.name(), rt.seq);
    rt.live.lock().unwrap().push((id.clone(), 0));
    let (t, r) = rt.spawn(&["run", "--bundle", bundle, &id])?;
    forget(&rt.live, &id);
    if keep {
        rt.times[ti("run")].push(t);
        rt.rss[ri("run")].push(r);
    }
    Ok(())
}

/// Creates and starts the container that `exec_once` runs /bin/true in.
fn start_exec_target(rt: &mut Runtime, bundle: &str, tmp: &str, prefix: &str) -> Res<()> {
    let id = format!("{prefix}-{}-x", rt.name());
    let pidfile = format!("{tmp}/{id}.pid");
    rt.live.lock().unwrap().push((id.clone(), 0));
    rt.spawn(&["create", "--bundle", bundle, "--pid-file", &pidfile, &id])?;
    let pid = read_pid(rt.name(), &pidfile)?;
    rt.live.lock().unwrap().last_mut().unwrap().1 = pid;
    rt.spawn(&["start", &id])?;
    rt.exec_target = Some((id, pid));
    Ok(())
}

fn exec_once(rt: &mut Runtime, keep: bool) -> Res<()> {
    let id = rt
        .exec_target
        .as_ref()
        .expect("exec target started")
        .0
        .clone();
    let (t, r) = rt.spawn(&["exec", &id, "/bin/true"])?;
    if keep {
        rt.times[ti("exec")].push(t);
        rt.rss[ri("exec")].push(r);
    }
    Ok(())
}

/// Pids of every process below `pid` (all its threads' children, recursively).
fn descendants(pid: i32, out: &mut Vec<i32>) {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for t in tasks.flatten() {
        let path = t.path().join("children");
        let Ok(s) = fs::read_to_string(path) else {
            continue;
        };
        for c in s.split_whitespace().filter_map(|c| c.parse::<i32>().ok()) {
            out.push(c);
            descendants(c, out);
        }
    }
}

/// Sum of VmRSS (KiB) of every process below us.
fn total_rss(me: i32, buf: &mut Vec<i32>) -> i64 {
    buf.clear();
    descendants(me, buf);
    buf.iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/statm")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<i64>().ok())
        .sum::<i64>()
        * 4
}

/// (d): `total` lifecycles, `par` at a time; (wall seconds, peak total RSS KiB).
fn scale_round(
    rt: &mut Runtime,
    bundle: &str,
    tmp: &str,
    prefix: &str,
    total: usize,
    par: usize,
) -> Res<(f64, i64)> {
    rt.seq += 1;
    let round = rt.seq;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let failure: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let me = unsafe { getpid() };
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            let mut buf = Vec::new();
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(total_rss(me, &mut buf));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let t0 = Instant::now();
    let workers: Vec<_> = (0..par)
        .map(|w| {
            let (inv, live, next, failure) = (
                rt.inv.clone(),
                rt.live.clone(),
                next.clone(),
                failure.clone(),
            );
            let (bundle, tmp, prefix) = (bundle.to_string(), tmp.to_string(), prefix.to_string());
            std::thread::spawn(move || {
                let errfile = format!("{tmp}/{}-scale{w}.stderr", inv.name);
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= total
                        || failure.lock().unwrap().is_some()
                        || STOP.load(Ordering::SeqCst)
                    {
                        return;
                    }
                    let id = format!("{prefix}-{}-s{round}-{n}", inv.name);
                    let pidfile = format!("{tmp}/{id}.pid");
                    if let Err(e) = one_lifecycle(&inv, &live, &id, &bundle, &pidfile, &errfile) {
                        *failure.lock().unwrap() = Some(e);
                        return;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let wall = t0.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    let peak = sampler.join().unwrap_or(0);
    if let Some(e) = failure.lock().unwrap().take() {
        return Err(e);
    }
    if STOP.load(Ordering::SeqCst) {
        return Err("interrupted".into());
    }
    Ok((wall, peak))
}

/// Force-delete whatever is still alive; SIGKILL leftover container inits
/// only if they are our own children; reap.
fn cleanup(rts: &mut [Runtime]) {
    let me = unsafe { getpid() };
    for rt in rts.iter_mut() {
        let live = std::mem::take(&mut *rt.live.lock().unwrap());
        for (id, pid) in live {
            let _ = rt.spawn(&["delete", "--force", &id]);
            if pid > 0 {
                let ppid = fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        s.rsplit_once(')')
                            .and_then(|x| x.1.split_whitespace().nth(1).map(str::to_string))
                    })
                    .and_then(|p| p.parse::<i32>().ok());
                if ppid == Some(me) {
                    unsafe { kill(pid, SIGKILL) };
                }
            }
        }
    }
    reap_strays();
}

/// ru_maxrss of the payload alone, spawned exactly like a runtime: upper
/// bound of both the measurement floor and of /bin/true's own RSS.
fn baseline(bundle: &str) -> i64 {
    let mut cmd = Command::new(format!("{bundle}/rootfs/bin/busybox"));
    cmd.arg("true").stdin(Stdio::null()).stdout(Stdio::null());
    unsafe {
        cmd.pre_exec(|| Ok(()));
    }
    match cmd.spawn() {
        Ok(c) => wait_pid(c.id() as i32)
            .ok()
            .flatten()
            .map(|x| x.1)
            .unwrap_or(-1),
        Err(_) => -1,
    }
}

struct Opts {
    bundle: String,
    exec_bundle: String,
    tmp: String,
    prefix: String,
    n: usize,
    warmup: usize,
    scale_rounds: usize,
    scale_total: usize,
    scale_par: usize,
    json: String,
    note: String,
    seed: u64,
    runtimes: Vec<(String, String)>,
    libs: Vec<(String, String)>,
}

fn parse_args() -> Res<Opts> {
    let mut o = Opts {
        bundle: String::new(),
        exec_bundle: String::new(),
        tmp: String::new(),
        prefix: String::new(),
        n: 200,
        warmup: 10,
        scale_rounds: 3,
        scale_total: 100,
        scale_par: 8,
        json: String::new(),
        note: String::new(),
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        runtimes: vec![],
        libs: vec![],
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        let num = |v: String, what: &str| v.parse::<usize>().map_err(|e| format!("{what}: {e}"));
        match a.as_str() {
            "--bundle" => o.bundle = val()?,
            "--exec-bundle" => o.exec_bundle = val()?,
            "--tmp" => o.tmp = val()?,
            "--prefix" => o.prefix = val()?,
            "-n" => o.n = num(val()?, "-n")?,
            "--warmup" => o.warmup = num(val()?, "--warmup")?,
            "--scale-rounds" => o.scale_rounds = num(val()?, "--scale-rounds")?,
            "--scale-total" => o.scale_total = num(val()?, "--scale-total")?,
            "--scale-par" => o.scale_par = num(val()?, "--scale-par")?.max(1),
            "--json" => o.json = val()?,
            "--note" => o.note = val()?,
            "--seed" => o.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            // name=DIR: LD_LIBRARY_PATH for that runtime only
            "--lib" => {
                let v = val()?;
                let (n, d) = v.split_once('=').ok_or("--lib needs name=dir")?;
                o.libs.push((n.to_string(), d.to_string()));
            }
            s if s.contains('=') => {
                let (n, b) = s.split_once('=').unwrap();
                o.runtimes.push((n.to_string(), b.to_string()));
            }
            s => return Err(format!("unknown argument {s}")),
        }
    }
    if o.bundle.is_empty()
        || o.exec_bundle.is_empty()
        || o.tmp.is_empty()
        || o.prefix.is_empty()
        || o.runtimes.is_empty()
    {
        return Err(
            "usage: bench --bundle DIR --exec-bundle DIR --tmp DIR --prefix P [-n N] \
             [--warmup W] [--scale-rounds R] [--scale-total T] [--scale-par P] [--json FILE] \
             [--note TEXT] [--seed S] [--lib name=DIR]... name=binary..."
                .into(),
        );
    }
    if o.n < 1 {
        return Err("-n must be >= 1".into());
    }
    Ok(o)
}

fn shuffle<T>(v: &mut [T], rng: &mut u64) {
    for t in (1..v.len()).rev() {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        v.swap(t, (*rng % (t as u64 + 1)) as usize);
    }
}

#[derive(Clone, Copy)]
enum Task {
    Lifecycle,
    Run,
    Exec,
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    if unsafe { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        eprintln!("bench: prctl(PR_SET_CHILD_SUBREAPER): errno {}", errno());
        std::process::exit(1);
    }
    for s in [SIGINT, SIGTERM, SIGHUP] {
        unsafe { signal(s, on_signal) };
    }
    let mut rts = Vec::new();
    for (name, bin) in &o.runtimes {
        let root = format!("{}/root-{name}", o.tmp);
        if let Err(e) = fs::create_dir_all(&root) {
            eprintln!("bench: {root}: {e}");
            std::process::exit(1);
        }
        rts.push(Runtime {
            inv: Invoker {
                name: name.clone(),
                bin: bin.clone(),
                root,
                lib: o.libs.iter().find(|l| l.0 == *name).map(|l| l.1.clone()),
            },
            errfile: format!("{}/{name}.stderr", o.tmp),
            seq: 0,
            exec_target: None,
            live: Arc::new(Mutex::new(vec![])),
            times: vec![vec![]; TIMES.len()],
            rss: vec![vec![]; RSS.len()],
            scale: vec![],
        });
    }

    let k = rts.len();
    let total = o.warmup + o.n;
    let started = Instant::now();
    let mut rng = o.seed | 1;
    let result = (|| -> Res<()> {
        for rt in rts.iter_mut() {
            start_exec_target(rt, &o.exec_bundle, &o.tmp, &o.prefix)?;
        }
        // Every iteration runs the 3k tasks in a fresh random order: a fixed
        // rotation let one runtime always follow runc (whose cgroup teardown etc.
        // slows the next command down) and skewed hull/crun by ~20% with hull == crun.
        let mut tasks: Vec<(usize, Task)> = (0..k)
            .flat_map(|j| [(j, Task::Lifecycle), (j, Task::Run), (j, Task::Exec)])
            .collect();
        for i in 0..total {
            let keep = i >= o.warmup;
            shuffle(&mut tasks, &mut rng);
            for &(j, task) in &tasks {
                if STOP.load(Ordering::SeqCst) {
                    return Err("interrupted".into());
                }
                let rt = &mut rts[j];
                match task {
                    Task::Lifecycle => lifecycle(rt, &o.bundle, &o.tmp, &o.prefix, keep)?,
                    Task::Run => run_once(rt, &o.bundle, &o.prefix, keep)?,
                    Task::Exec => exec_once(rt, keep)?,
                }
            }
            reap_strays();
        }
        let mut order: Vec<usize> = (0..k).collect();
        for _ in 0..o.scale_rounds {
            shuffle(&mut order, &mut rng);
            for &j in &order {
                let r = scale_round(
                    &mut rts[j],
                    &o.bundle,
                    &o.tmp,
                    &o.prefix,
                    o.scale_total,
                    o.scale_par,
                )?;
                rts[j].scale.push(r);
                reap_strays();
            }
        }
        Ok(())
    })();
    let elapsed = started.elapsed().as_secs_f64();
    cleanup(&mut rts);
    if let Err(e) = result {
        eprintln!("bench: FAILED: {e}");
        std::process::exit(if STOP.load(Ordering::SeqCst) { 130 } else { 1 });
    }
    report(&rts, &o, elapsed, baseline(&o.bundle));
}
