//! Test-only support for the bounded fuzz tests of hull's parsers of untrusted input (D-Bus
//! messages, /proc and cgroup files): a seeded generator, byte mutators, a time budget with a
//! watchdog (a parser that loops fails the test instead of hanging it), and an allocation
//! tracker (a parser that allocates what a length read from the input asks for, instead of
//! what the input holds, fails the test).
//!
//! The toolchain is stable-only (no cargo-fuzz), so these run as ordinary `#[test]`s, with
//! fixed seeds so that a failure reproduces. `HULL_FUZZ_SECS` (default 3 per test) and
//! `HULL_FUZZ_SEED` (default fixed) let a developer run longer or other sequences.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::{Arc, Mutex, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// splitmix64: small, fast, and good enough to drive mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let n = self.below(max_len + 1);
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// A string of up to `max_len` characters drawn from `alphabet`.
    pub fn text(&mut self, alphabet: &[&str], max_len: usize) -> String {
        let n = self.below(max_len + 1);
        (0..n).map(|_| *self.pick(alphabet)).collect()
    }
}

/// Values that tend to break length and count handling.
const INTERESTING_U32: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x1_0000,
    1 << 26,
    (1 << 26) + 1,
    1 << 27,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fff8,
    0xffff_ffff,
];

/// One random edit of `buf`: bit flips, byte and little-endian u32 overwrites with boundary
/// values, insertions, deletions, truncation, duplication of a chunk.
pub fn mutate(rng: &mut Rng, buf: &mut Vec<u8>) {
    let len = buf.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            buf[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            buf[i] = *rng.pick(&[0u8, 1, 0x7f, 0x80, 0xff, b'a', b'(', b')', b'{', b'}', b'v']);
        }
        2 if len >= 4 => {
            // Lengths and counts are u32s at 4-aligned offsets (relative to the message).
            let i = rng.below(len / 4) * 4;
            let v = *rng.pick(INTERESTING_U32);
            let v = if rng.chance(3) {
                v.wrapping_add(rng.below(9) as u32).wrapping_sub(4)
            } else {
                v
            };
            buf[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
        3 => {
            let i = rng.below(len + 1);
            let extra = rng.bytes(16);
            buf.splice(i..i, extra);
        }
        4 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(16));
            buf.drain(i..i + n);
        }
        5 => buf.truncate(rng.below(len + 1)),
        6 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(32));
            let chunk = buf[i..i + n].to_vec();
            let at = rng.below(len + 1);
            buf.splice(at..at, chunk);
        }
        _ if len > 0 => {
            let i = rng.below(len);
            buf[i] = rng.next_u64() as u8;
        }
        _ => buf.push(rng.next_u64() as u8),
    }
}

/// The seed of this run: `HULL_FUZZ_SEED` or `default`.
pub fn seed(default: u64) -> u64 {
    std::env::var("HULL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// How long one fuzz test runs: `HULL_FUZZ_SECS` or 3 s.
pub fn budget() -> Duration {
    let secs = std::env::var("HULL_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3u64);
    Duration::from_secs(secs)
}

/// Held shared while a fuzz test runs and exclusively by a unit test while it forks. A child
/// forked while another thread holds a lock deadlocks when it needs that lock, and the fuzz
/// tests hold one all the time: with RUST_BACKTRACE set, every anyhow error (millions of
/// rejected inputs) captures a backtrace under std's global backtrace lock.
static FORK_GUARD: RwLock<()> = RwLock::new(());

/// Waits until no fuzz test runs, and keeps new ones from starting while held: take it
/// around `fork()` in a test.
pub fn fork_guard() -> RwLockWriteGuard<'static, ()> {
    FORK_GUARD.write().unwrap_or_else(|e| e.into_inner())
}

/// Calls `one(rng, case)` over and over for [`budget`] (at least `min_cases` times) on a worker
/// thread. If a single case takes longer than `stall` (a parser looping on its input), the test
/// fails naming the input being parsed, which `one` records with [`Recorder::set`]. Returns the
/// number of cases run.
pub fn run(
    name: &str,
    default_seed: u64,
    min_cases: u64,
    stall: Duration,
    one: impl Fn(&mut Rng, &Recorder) + Send + 'static,
) -> u64 {
    let _no_forks = FORK_GUARD.read().unwrap_or_else(|e| e.into_inner());
    let seed = seed(default_seed);
    let rec = Recorder::default();
    let progress = Arc::new(Mutex::new((0u64, Instant::now(), false)));
    let (worker_rec, worker_progress) = (rec.clone(), progress.clone());
    let budget = budget();
    let worker = std::thread::spawn(move || {
        let mut rng = Rng::new(seed);
        let start = Instant::now();
        let mut cases = 0u64;
        while cases < min_cases || start.elapsed() < budget {
            one(&mut rng, &worker_rec);
            cases += 1;
            *worker_progress.lock().unwrap() = (cases, Instant::now(), false);
        }
        worker_progress.lock().unwrap().2 = true;
        cases
    });
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let (cases, last, done) = *progress.lock().unwrap();
        if done || worker.is_finished() {
            break;
        }
        if last.elapsed() > stall {
            panic!(
                "{name} (seed {seed}): case {} has run for over {stall:?}, the parser loops on \
                 input {:02x?}",
                cases + 1,
                rec.get()
            );
        }
    }
    match worker.join() {
        Ok(n) => {
            eprintln!("{name}: {n} cases, seed {seed}");
            n
        }
        Err(p) => {
            eprintln!("{name} (seed {seed}) panicked on input {:02x?}", rec.get());
            std::panic::resume_unwind(p)
        }
    }
}

/// The input currently being parsed, for the failure message.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<u8>>>);

impl Recorder {
    pub fn set(&self, input: &[u8]) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.clear();
        g.extend_from_slice(input);
    }

    pub fn get(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Allocation tracking (for this thread only, while enabled)
// ---------------------------------------------------------------------------------------------

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = TRACKING.try_with(|on| {
        if on.get() {
            let live = LIVE.get() + delta;
            LIVE.set(live);
            if live > PEAK.get() {
                PEAK.set(live);
            }
        }
    });
}

/// hull's allocator (util::alloc), counting this thread's bytes while [`peak_alloc`] runs.
pub struct Tracking;

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { super::alloc::BumpThenSystem.alloc(l) };
        if !p.is_null() {
            note(l.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { super::alloc::BumpThenSystem.alloc_zeroed(l) };
        if !p.is_null() {
            note(l.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { super::alloc::BumpThenSystem.dealloc(p, l) };
        note(-(l.size() as isize));
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { super::alloc::BumpThenSystem.realloc(p, l, new_size) };
        if !q.is_null() {
            note(new_size as isize - l.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// Runs `f` and returns its result with the most bytes it had allocated at once (on this
/// thread).
pub fn peak_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.set(0);
    PEAK.set(0);
    TRACKING.set(true);
    let r = f();
    TRACKING.set(false);
    (r, PEAK.get().max(0) as usize)
}
