//! Side-by-side timing / peak-RSS benchmark of OCI runtimes (hull vs crun vs runc).
//!
//! Single file, std only (no crates): benches/run.sh compiles it with `rustc -O`,
//! builds the bundle, enters a private mount namespace (hybrid cgroups:
//! /sys/fs/cgroup/unified unmounted so that crun works) and runs it there.
//!
//! Per iteration every runtime (all tasks in a fresh random order each
//! iteration, so drift, noise and carry-over hit all runtimes alike) does
//!   (a) create --pid-file -> start -> wait for the container's /bin/true to
//!       exit -> delete                                     ("lifecycle")
//!   (b) run                                                ("run")
//!
//! Time: wall clock around fork+exec+wait4 of each runtime command; the
//! lifecycle time also includes waiting for the container to exit.
//!
//! RSS: ru_maxrss from wait4() of the runtime process. The kernel folds in the
//! max RSS of descendants the runtime reaped itself (runc's `runc init`
//! bootstrap stages; for `run` also the container process), but never the
//! container init of (a): that one we reap ourselves (we are a child
//! subreaper) and report separately as "ctr-init".
//! ru_maxrss also includes the high-water RSS of the mm a process had before
//! exec. That is why this is a small compiled program that fork()s (not a
//! Python script, nor vfork/posix_spawn): the floor is the few hundred KiB of
//! this process's anonymous memory copied at fork, printed as "baseline".

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

const TIMES: [&str; 6] = ["cycle", "create", "start", "wait", "delete", "run"];
const RSS: [&str; 5] = ["create", "start", "delete", "run", "ctr-init"];

struct Runtime {
    name: String,
    bin: String,
    root: String,
    errfile: String,
    err: File,
    seq: u64,
    live: Vec<(String, i32)>, // not yet deleted: (id, container pid or 0)
    times: Vec<Vec<f64>>,     // indexed like TIMES, seconds
    rss: Vec<Vec<i64>>,       // indexed like RSS, KiB
}

impl Runtime {
    fn spawn(&mut self, args: &[&str]) -> Res<(f64, i64)> {
        self.err.set_len(0).map_err(|e| e.to_string())?;
        self.err
            .seek(SeekFrom::Start(0))
            .map_err(|e| e.to_string())?;
        let err = self.err.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
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
            let stderr = fs::read_to_string(&self.errfile).unwrap_or_default();
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

    fn forget(&mut self, id: &str) {
        self.live.retain(|(i, _)| i != id);
    }
}

/// Wait for container init `pid` to exit; its ru_maxrss if we reaped it.
/// We are a child subreaper, so once `create` has exited the container init
/// is normally our child; if not (ECHILD), poll /proc.
fn wait_container(pid: i32) -> Res<Option<i64>> {
    if let Some((_, rss)) = wait_pid(pid)? {
        return Ok(Some(rss));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return Ok(None),
            Ok(s) => {
                let state = s.rsplit_once(')').map(|x| x.1.trim_start()).unwrap_or("");
                if state.starts_with('Z') || state.starts_with('X') {
                    return Ok(None);
                }
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Err(format!("container pid {pid} did not exit within 30s"))
}

fn lifecycle(rt: &mut Runtime, bundle: &str, tmp: &str, prefix: &str, keep: bool) -> Res<()> {
    rt.seq += 1;
    let id = format!("{prefix}-{}-c{}", rt.name, rt.seq);
    let pidfile = format!("{tmp}/{id}.pid");
    rt.live.push((id.clone(), 0));
    let t0 = Instant::now();
    let (t_create, r_create) =
        rt.spawn(&["create", "--bundle", bundle, "--pid-file", &pidfile, &id])?;
    let pid: i32 = fs::read_to_string(&pidfile)
        .map_err(|e| format!("{}: read {pidfile}: {e}", rt.name))?
        .trim()
        .parse()
        .map_err(|e| format!("{}: bad pid file {pidfile}: {e}", rt.name))?;
    let _ = fs::remove_file(&pidfile);
    rt.live.last_mut().unwrap().1 = pid;
    let (t_start, r_start) = rt.spawn(&["start", &id])?;
    let tw = Instant::now();
    let r_ctr = wait_container(pid)?;
    let t_wait = tw.elapsed().as_secs_f64();
    let (t_delete, r_delete) = rt.spawn(&["delete", &id])?;
    rt.forget(&id);
    let t_cycle = t0.elapsed().as_secs_f64();
    if keep {
        for (i, v) in [t_cycle, t_create, t_start, t_wait, t_delete]
            .into_iter()
            .enumerate()
        {
            rt.times[i].push(v);
        }
        for (i, v) in [r_create, r_start, r_delete].into_iter().enumerate() {
            rt.rss[i].push(v);
        }
        if let Some(v) = r_ctr {
            rt.rss[4].push(v);
        }
    }
    Ok(())
}

fn run_once(rt: &mut Runtime, bundle: &str, prefix: &str, keep: bool) -> Res<()> {
    rt.seq += 1;
    let id = format!("{prefix}-{}-r{}", rt.name, rt.seq);
    rt.live.push((id.clone(), 0));
    let (t, r) = rt.spawn(&["run", "--bundle", bundle, &id])?;
    rt.forget(&id);
    if keep {
        rt.times[5].push(t);
        rt.rss[3].push(r);
    }
    Ok(())
}

/// Force-delete whatever is still alive; SIGKILL leftover container inits
/// only if they are our own children; reap.
fn cleanup(rts: &mut [Runtime]) {
    let me = unsafe { getpid() };
    for rt in rts.iter_mut() {
        for (id, pid) in std::mem::take(&mut rt.live) {
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

struct Stat {
    mean: f64,
    median: f64,
    stdev: f64,
    min: f64,
    max: f64,
}

fn stat(v: &[f64]) -> Stat {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = s.len() / 2;
    let median = if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    };
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Stat {
        mean,
        median,
        stdev: var.sqrt(),
        min: s[0],
        max: s[s.len() - 1],
    }
}

fn median_i(v: &[i64]) -> i64 {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn ms(x: f64) -> String {
    format!("{:8.2}", x * 1000.0)
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

struct Opts {
    bundle: String,
    tmp: String,
    prefix: String,
    n: usize,
    warmup: usize,
    json: String,
    note: String,
    seed: u64,
    runtimes: Vec<(String, String)>,
}

fn parse_args() -> Res<Opts> {
    let mut o = Opts {
        bundle: String::new(),
        tmp: String::new(),
        prefix: String::new(),
        n: 200,
        warmup: 10,
        json: String::new(),
        note: String::new(),
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        runtimes: vec![],
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bundle" => o.bundle = val()?,
            "--tmp" => o.tmp = val()?,
            "--prefix" => o.prefix = val()?,
            "-n" => o.n = val()?.parse().map_err(|e| format!("-n: {e}"))?,
            "--warmup" => o.warmup = val()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--json" => o.json = val()?,
            "--note" => o.note = val()?,
            "--seed" => o.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            s if s.contains('=') => {
                let (n, b) = s.split_once('=').unwrap();
                o.runtimes.push((n.to_string(), b.to_string()));
            }
            s => return Err(format!("unknown argument {s}")),
        }
    }
    if o.bundle.is_empty() || o.tmp.is_empty() || o.prefix.is_empty() || o.runtimes.is_empty() {
        return Err(
            "usage: bench --bundle DIR --tmp DIR --prefix P [-n N] [--warmup W] \
                    [--json FILE] [--note TEXT] [--seed S] name=binary..."
                .into(),
        );
    }
    if o.n < 1 {
        return Err("-n must be >= 1".into());
    }
    Ok(o)
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
        let errfile = format!("{}/{name}.stderr", o.tmp);
        let err = fs::create_dir_all(&root).and_then(|_| {
            File::options()
                .read(true)
                .write(true)
                .create(true)
                .open(&errfile)
        });
        let err = match err {
            Ok(f) => f,
            Err(e) => {
                eprintln!("bench: {root}: {e}");
                std::process::exit(1);
            }
        };
        rts.push(Runtime {
            name: name.clone(),
            bin: bin.clone(),
            root,
            errfile,
            err,
            seq: 0,
            live: vec![],
            times: vec![vec![]; TIMES.len()],
            rss: vec![vec![]; RSS.len()],
        });
    }

    let k = rts.len();
    let total = o.warmup + o.n;
    let started = Instant::now();
    let mut result: Res<()> = Ok(());
    // Every iteration runs the 2k tasks (k runtimes x {lifecycle, run}) in a
    // fresh random order: a fixed rotation let one runtime always follow runc
    // (whose cgroup teardown etc. slows the next command down) and skewed
    // hull/crun by ~20% with hull == crun.
    let mut rng = o.seed | 1;
    let mut tasks: Vec<(usize, bool)> = (0..k).flat_map(|j| [(j, true), (j, false)]).collect();
    'outer: for i in 0..total {
        let keep = i >= o.warmup;
        for t in (1..tasks.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            tasks.swap(t, (rng % (t as u64 + 1)) as usize);
        }
        for &(j, is_lifecycle) in &tasks {
            if STOP.load(Ordering::SeqCst) {
                result = Err("interrupted".into());
                break 'outer;
            }
            let rt = &mut rts[j];
            let r = if is_lifecycle {
                lifecycle(rt, &o.bundle, &o.tmp, &o.prefix, keep)
            } else {
                run_once(rt, &o.bundle, &o.prefix, keep)
            };
            if let Err(e) = r {
                result = Err(e);
                break 'outer;
            }
        }
        reap_strays();
    }
    let elapsed = started.elapsed().as_secs_f64();
    cleanup(&mut rts);
    if let Err(e) = result {
        eprintln!("bench: FAILED: {e}");
        std::process::exit(if STOP.load(Ordering::SeqCst) { 130 } else { 1 });
    }
    report(&rts, &o, elapsed, baseline(&o.bundle));
}

fn report(rts: &[Runtime], o: &Opts, elapsed: f64, base: i64) {
    let mut out = String::new();
    let p = &mut out;
    let _ = writeln!(
        p,
        "hull bench: {} measured iterations (+{} warmup) per runtime, \
         randomly interleaved (seed {}); {:.1}s total",
        o.n, o.warmup, o.seed, elapsed
    );
    if !o.note.is_empty() {
        let _ = writeln!(p, "{}", o.note);
    }
    let st =
        |rt: &Runtime, key: &str| stat(&rt.times[TIMES.iter().position(|k| *k == key).unwrap()]);

    let _ = writeln!(
        p,
        "\n(a) lifecycle: create + start + wait for exit + delete   [ms per cycle]"
    );
    let _ = writeln!(
        p,
        "{:6} {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} {:>8}",
        "", "mean", "median", "stddev", "min", "create", "start", "wait", "delete"
    );
    for rt in rts {
        let s = st(rt, "cycle");
        let _ = writeln!(
            p,
            "{:6} {} {} {} {} | {} {} {} {}",
            rt.name,
            ms(s.mean),
            ms(s.median),
            ms(s.stdev),
            ms(s.min),
            ms(st(rt, "create").mean),
            ms(st(rt, "start").mean),
            ms(st(rt, "wait").mean),
            ms(st(rt, "delete").mean)
        );
    }
    let _ = writeln!(p, "\n(b) run /bin/true   [ms per run]");
    let _ = writeln!(
        p,
        "{:6} {:>8} {:>8} {:>8} {:>8}",
        "", "mean", "median", "stddev", "min"
    );
    for rt in rts {
        let s = st(rt, "run");
        let _ = writeln!(
            p,
            "{:6} {} {} {} {}",
            rt.name,
            ms(s.mean),
            ms(s.median),
            ms(s.stdev),
            ms(s.min)
        );
    }
    let subj = &rts[0];
    let _ = writeln!(
        p,
        "\ntime ratios (mean; < 1.00 means {} is faster)",
        subj.name
    );
    let mut jratios = Vec::new();
    for (key, label) in [("cycle", "lifecycle"), ("run", "run")] {
        let mut line = format!("  {:11}", format!("{label}:"));
        for rt in &rts[1..] {
            let (a, b) = (st(subj, key), st(rt, key));
            let r = a.mean / b.mean;
            let _ = write!(
                line,
                "{}/{} = {:.2}x (median {:.2}x)   ",
                subj.name,
                rt.name,
                r,
                a.median / b.median
            );
            jratios.push(format!(
                "{}: {:.4}",
                json_str(&format!("{}/{} {label}", subj.name, rt.name)),
                r
            ));
        }
        let _ = writeln!(p, "{}", line.trim_end());
    }
    let _ = writeln!(
        p,
        "\npeak RSS of the runtime process [KiB; max over cycles (median)]"
    );
    let mut hdr = format!("{:6}", "");
    for k in RSS {
        let _ = write!(hdr, "{k:>17}");
    }
    let _ = writeln!(p, "{hdr}");
    for rt in rts {
        let mut line = format!("{:6}", rt.name);
        for v in &rt.rss {
            let cell = if v.is_empty() {
                "-".to_string()
            } else {
                format!("{} ({})", v.iter().max().unwrap(), median_i(v))
            };
            let _ = write!(line, "{cell:>17}");
        }
        let _ = writeln!(p, "{line}");
    }
    let _ = writeln!(
        p,
        "  run      = the runtime process incl. the container process it reaps\n  \
         ctr-init = container init of (a): runtime code until exec, then /bin/true\n  \
         baseline = busybox true spawned the same way: {base} KiB \
         (bounds both the measurement floor and the payload's own RSS)"
    );
    print!("{out}");

    if !o.json.is_empty() {
        let mut j = String::new();
        let _ = write!(
            j,
            "{{\"n\": {}, \"warmup\": {}, \"seed\": {}, \"elapsed_s\": {:.3}, \"baseline_rss_kib\": {base}, \
             \"note\": {}, \"ratios_mean\": {{{}}}, \"runtimes\": {{",
            o.n,
            o.warmup,
            o.seed,
            elapsed,
            json_str(&o.note),
            jratios.join(", ")
        );
        for (ri, rt) in rts.iter().enumerate() {
            let _ = write!(
                j,
                "{}{}: {{\"binary\": {}, \"time_ms\": {{",
                if ri > 0 { ", " } else { "" },
                json_str(&rt.name),
                json_str(&rt.bin)
            );
            let mut first = true;
            for (ki, key) in TIMES.iter().enumerate() {
                if rt.times[ki].is_empty() {
                    continue;
                }
                let s = stat(&rt.times[ki]);
                let _ = write!(
                    j,
                    "{}\"{key}\": {{\"mean\": {:.4}, \"median\": {:.4}, \"stdev\": {:.4}, \
                     \"min\": {:.4}, \"max\": {:.4}, \"n\": {}}}",
                    if first { "" } else { ", " },
                    s.mean * 1e3,
                    s.median * 1e3,
                    s.stdev * 1e3,
                    s.min * 1e3,
                    s.max * 1e3,
                    rt.times[ki].len()
                );
                first = false;
            }
            let _ = write!(j, "}}, \"maxrss_kib\": {{");
            let mut first = true;
            for (ki, key) in RSS.iter().enumerate() {
                let v = &rt.rss[ki];
                if v.is_empty() {
                    continue;
                }
                let _ = write!(
                    j,
                    "{}\"{key}\": {{\"max\": {}, \"median\": {}}}",
                    if first { "" } else { ", " },
                    v.iter().max().unwrap(),
                    median_i(v)
                );
                first = false;
            }
            let _ = write!(j, "}}}}");
        }
        j.push_str("}}\n");
        match fs::write(&o.json, j) {
            Ok(()) => println!("\nJSON written to {}", o.json),
            Err(e) => eprintln!("bench: write {}: {e}", o.json),
        }
    }
}
