//! hull's global allocator: bump allocation from an arena in .bss, the libc allocator after.
//!
//! Every hull command is a short-lived process that allocates a few hundred small blocks
//! (argv, the state and the config parsed with serde, paths) and exits. musl's allocator,
//! which the release build uses, maps and unmaps a page for nearly every new size class and
//! group and gives them back as soon as they are empty: ~35 mmap/munmap calls per `exec`,
//! 5% of its time. Bumping a pointer through memory that is already there costs none, and
//! the pages of the arena that are never touched cost no memory either.
//!
//! Freeing the newest block moves the top back and growing it grows it in place, which is
//! what a Vec or String being built does; other frees are left alone. So long-running
//! commands (`events`, a foreground `run`) use the arena up and go on with the libc
//! allocator: what the arena holds is bounded by its size. Lock-free (a CAS on the top), so
//! the unit tests' threads share it safely; a cloned child gets its own copy, like the rest
//! of its memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

const SIZE: usize = 256 * 1024;
/// Every block starts at a multiple of this, as malloc's do (max_align_t): code that puts a
/// struct in a byte buffer relies on it (nix's sendmsg builds its cmsghdr in a Vec<u8>).
const MIN_ALIGN: usize = 16;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; SIZE]>);

// SAFETY: bytes are handed out once each (by the CAS on TOP); no two callers share one.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; SIZE]));
/// Offset of the first free byte in ARENA.
static TOP: AtomicUsize = AtomicUsize::new(0);

pub struct BumpThenSystem;

fn base() -> usize {
    ARENA.0.get() as usize
}

fn in_arena(p: *mut u8) -> bool {
    (p as usize).wrapping_sub(base()) < SIZE
}

/// Takes `size` bytes aligned to `align` from the arena, or None when it is used up.
fn bump(size: usize, align: usize) -> Option<*mut u8> {
    let mut top = TOP.load(Ordering::Relaxed);
    loop {
        let start = (base() + top).checked_next_multiple_of(align.max(MIN_ALIGN))? - base();
        let end = start.checked_add(size).filter(|&e| e <= SIZE)?;
        match TOP.compare_exchange_weak(top, end, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some((base() + start) as *mut u8),
            Err(now) => top = now,
        }
    }
}

/// Moves the top from the end of the block at `p` (of `old` bytes) to `new_end` bytes past
/// `p`, if that block is the newest one. False when it is not (or `new_end` does not fit).
fn move_top(p: *mut u8, old: usize, new_end: usize) -> bool {
    let off = p as usize - base();
    let Some(end) = off.checked_add(new_end).filter(|&e| e <= SIZE) else {
        return false;
    };
    TOP.compare_exchange(off + old, end, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
}

// SAFETY: blocks come from the arena (each handed out once, aligned as asked) or from
// System, and each goes back to where it came from (in_arena tells).
unsafe impl GlobalAlloc for BumpThenSystem {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match bump(layout.size(), layout.align()) {
            Some(p) => p,
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // .bss starts zeroed, but a block freed back to the top may have been written.
        match bump(layout.size(), layout.align()) {
            Some(p) => {
                unsafe { p.write_bytes(0, layout.size()) };
                p
            }
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if in_arena(p) {
            move_top(p, layout.size(), 0);
        } else {
            unsafe { System.dealloc(p, layout) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !in_arena(p) {
            return unsafe { System.realloc(p, layout, new_size) };
        }
        if new_size <= layout.size() || move_top(p, layout.size(), new_size) {
            // Shrunk, or the newest block grown in place. A shrunk newest block gives the
            // rest back.
            if new_size < layout.size() {
                move_top(p, layout.size(), new_size);
            }
            return p;
        }
        // SAFETY: the new layout is valid: the caller guarantees new_size fits isize when
        // rounded to the alignment.
        let new =
            unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(p, new, layout.size());
                self.dealloc(p, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_block_grows_in_place_and_frees_back() {
        let a = BumpThenSystem;
        unsafe {
            let l = Layout::from_size_align(24, 8).unwrap();
            let p = a.alloc(l);
            if !in_arena(p) {
                return; // the arena is used up by other tests' threads: nothing to check
            }
            p.write_bytes(7, 24);
            let q = a.realloc(p, l, 4000);
            // grown in place unless another thread allocated in between
            if q == p {
                assert_eq!(*q.add(23), 7);
            }
            a.dealloc(q, Layout::from_size_align(4000, 8).unwrap());
        }
    }

    #[test]
    fn alignment_and_fallback() {
        let a = BumpThenSystem;
        unsafe {
            let l = Layout::from_size_align(100, 4096).unwrap();
            let p = a.alloc(l);
            assert_eq!(p as usize % 4096, 0);
            a.dealloc(p, l);
            // bytes come at malloc's alignment too
            let b1 = Layout::from_size_align(3, 1).unwrap();
            let (x, y) = (a.alloc(b1), a.alloc(b1));
            assert_eq!((x as usize % MIN_ALIGN, y as usize % MIN_ALIGN), (0, 0));
            a.dealloc(y, b1);
            a.dealloc(x, b1);
            // bigger than the arena: from System
            let big = Layout::from_size_align(SIZE + 1, 8).unwrap();
            let b = a.alloc_zeroed(big);
            assert!(!in_arena(b) && !b.is_null());
            assert_eq!(*b.add(SIZE), 0);
            a.dealloc(b, big);
        }
    }
}
