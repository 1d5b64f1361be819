//! Reporting for benches/bench.rs: statistics, the text tables, the targets and the JSON file.

use super::{ti, Opts, Runtime, RSS, TIMES};
use std::fmt::Write as _;
use std::fs;
struct Stat {
    mean: f64,
    median: f64,
    stdev: f64,
    min: f64,
    max: f64,
}

fn stat(v: &[f64]) -> Stat {
    if v.is_empty() {
        return Stat {
            mean: f64::NAN,
            median: f64::NAN,
            stdev: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
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

/// Targets hull is held to, as ratios of medians to crun (the sid one) in one run.
const TARGETS: [(&str, &str, f64); 3] = [
    ("lifecycle", "cycle", 0.45),
    ("run", "run", 0.6),
    ("exec", "exec", 0.35),
];

pub fn report(rts: &[Runtime], o: &Opts, elapsed: f64, base: i64) {
    let mut out = String::new();
    let p = &mut out;
    let _ = writeln!(
        p,
        "hull bench: {} measured iterations (+{} warmup) per runtime, randomly interleaved \
         (seed {}); scale: {} rounds of {} containers, {} in flight; {:.1}s total",
        o.n, o.warmup, o.seed, o.scale_rounds, o.scale_total, o.scale_par, elapsed
    );
    if !o.note.is_empty() {
        let _ = writeln!(p, "{}", o.note);
    }
    let st = |rt: &Runtime, key: &str| stat(&rt.times[ti(key)]);

    let _ = writeln!(
        p,
        "\n(a) lifecycle: create + start + wait for exit + delete   [ms per cycle; split: medians]"
    );
    let _ = writeln!(
        p,
        "{:9} {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} {:>8}",
        "", "mean", "median", "stddev", "min", "create", "start", "wait", "delete"
    );
    for rt in rts {
        let s = st(rt, "cycle");
        let _ = writeln!(
            p,
            "{:9} {} {} {} {} | {} {} {} {}",
            rt.name(),
            ms(s.mean),
            ms(s.median),
            ms(s.stdev),
            ms(s.min),
            ms(st(rt, "create").median),
            ms(st(rt, "start").median),
            ms(st(rt, "wait").median),
            ms(st(rt, "delete").median)
        );
    }
    for (key, title) in [
        ("run", "(b) run /bin/true   [ms per run]"),
        (
            "exec",
            "(c) exec /bin/true in a running container   [ms per exec]",
        ),
    ] {
        let _ = writeln!(p, "\n{title}");
        let _ = writeln!(
            p,
            "{:9} {:>8} {:>8} {:>8} {:>8}",
            "", "mean", "median", "stddev", "min"
        );
        for rt in rts {
            let s = st(rt, key);
            let _ = writeln!(
                p,
                "{:9} {} {} {} {}",
                rt.name(),
                ms(s.mean),
                ms(s.median),
                ms(s.stdev),
                ms(s.min)
            );
        }
    }
    let _ = writeln!(
        p,
        "\n(d) scale: {} containers created, started, waited for and deleted, {} in flight   \
         [per round; median (min)]",
        o.scale_total, o.scale_par
    );
    let _ = writeln!(p, "{:9} {:>18} {:>24}", "", "wall s", "peak total RSS MiB");
    let scale_med = |rt: &Runtime| -> (f64, f64) {
        let w: Vec<f64> = rt.scale.iter().map(|x| x.0).collect();
        let r: Vec<f64> = rt.scale.iter().map(|x| x.1 as f64 / 1024.0).collect();
        (stat(&w).median, stat(&r).median)
    };
    for rt in rts {
        let w: Vec<f64> = rt.scale.iter().map(|x| x.0).collect();
        let r: Vec<f64> = rt.scale.iter().map(|x| x.1 as f64 / 1024.0).collect();
        let (sw, sr) = (stat(&w), stat(&r));
        let _ = writeln!(
            p,
            "{:9} {:>18} {:>24}",
            rt.name(),
            format!("{:.2} ({:.2})", sw.median, sw.min),
            format!("{:.1} ({:.1})", sr.median, sr.min)
        );
    }

    let subj = &rts[0];
    let _ = writeln!(
        p,
        "\ntime ratios (median; mean in parentheses; < 1.00 means {} is faster)",
        subj.name()
    );
    let mut jratios = Vec::new();
    for (key, label) in [("cycle", "lifecycle"), ("run", "run"), ("exec", "exec")] {
        let mut line = format!("  {:11}", format!("{label}:"));
        for rt in &rts[1..] {
            let (a, b) = (st(subj, key), st(rt, key));
            let r = a.median / b.median;
            let _ = write!(
                line,
                "{}/{} = {:.2}x ({:.2}x)   ",
                subj.name(),
                rt.name(),
                r,
                a.mean / b.mean
            );
            jratios.push(format!(
                "{}: {:.4}",
                json_str(&format!("{}/{} {label}", subj.name(), rt.name())),
                r
            ));
        }
        let _ = writeln!(p, "{}", line.trim_end());
    }
    let mut line = format!("  {:11}", "scale:");
    for rt in &rts[1..] {
        let (a, b) = (scale_med(subj), scale_med(rt));
        let _ = write!(
            line,
            "{}/{} = {:.2}x (RSS {:.2}x)   ",
            subj.name(),
            rt.name(),
            a.0 / b.0,
            a.1 / b.1
        );
        jratios.push(format!(
            "{}: {:.4}, {}: {:.4}",
            json_str(&format!("{}/{} scale", subj.name(), rt.name())),
            a.0 / b.0,
            json_str(&format!("{}/{} scale rss", subj.name(), rt.name())),
            a.1 / b.1
        ));
    }
    let _ = writeln!(p, "{}", line.trim_end());

    let _ = writeln!(
        p,
        "\npeak RSS of each runtime process [KiB; median (max over cycles)]"
    );
    let mut hdr = format!("{:9}", "");
    for k in RSS {
        let _ = write!(hdr, "{k:>15}");
    }
    let _ = writeln!(p, "{hdr}");
    for rt in rts {
        let mut line = format!("{:9}", rt.name());
        for v in &rt.rss {
            let cell = if v.is_empty() {
                "-".to_string()
            } else {
                format!("{} ({})", median_i(v), v.iter().max().unwrap())
            };
            let _ = write!(line, "{cell:>15}");
        }
        let _ = writeln!(p, "{line}");
    }
    let _ = writeln!(
        p,
        "  run, exec = the runtime process incl. the /bin/true it reaps\n  \
         init      = container init of (a) waiting for start: runtime code before exec (VmHWM)\n  \
         baseline  = busybox true spawned the same way: {base} KiB \
         (bounds both the measurement floor and the payload's own RSS)"
    );

    if let Some(crun) = rts
        .iter()
        .find(|r| r.name() == "crun")
        .filter(|_| subj.name() == "hull")
    {
        let _ = writeln!(p, "\ntargets (hull vs crun in this run)");
        for (label, key, target) in TARGETS {
            let r = st(subj, key).median / st(crun, key).median;
            let _ = writeln!(
                p,
                "  {label:10} {r:.2}x  (target <= {target:.2}x)  {}",
                if r <= target { "met" } else { "MISSED" }
            );
        }
        let below: Vec<String> = RSS
            .iter()
            .enumerate()
            .filter(|(i, _)| !subj.rss[*i].is_empty() && !crun.rss[*i].is_empty())
            .map(|(i, k)| {
                let (a, b) = (median_i(&subj.rss[i]), median_i(&crun.rss[i]));
                format!("{k} {a}<{b} {}", if a < b { "met" } else { "MISSED" })
            })
            .collect();
        let _ = writeln!(p, "  RSS below crun (medians, KiB): {}", below.join(", "));
    }
    print!("{out}");

    if !o.json.is_empty() {
        write_json(rts, o, elapsed, base, &jratios);
    }
}

fn write_json(rts: &[Runtime], o: &Opts, elapsed: f64, base: i64, jratios: &[String]) {
    let mut j = String::new();
    let _ = write!(
        j,
        "{{\"n\": {}, \"warmup\": {}, \"seed\": {}, \"elapsed_s\": {:.3}, \"baseline_rss_kib\": {base}, \
         \"note\": {}, \"ratios_median\": {{{}}}, \"runtimes\": {{",
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
            json_str(rt.name()),
            json_str(&rt.inv.bin)
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
        let rounds: Vec<String> = rt
            .scale
            .iter()
            .map(|(w, r)| format!("{{\"wall_s\": {w:.4}, \"peak_total_rss_kib\": {r}}}"))
            .collect();
        let _ = write!(j, "}}, \"scale\": [{}]}}", rounds.join(", "));
    }
    j.push_str("}}\n");
    match fs::write(&o.json, j) {
        Ok(()) => println!("\nJSON written to {}", o.json),
        Err(e) => eprintln!("bench: write {}: {e}", o.json),
    }
}
