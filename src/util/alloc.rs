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

/// A bump arena of N bytes. Acquire/Release on the top: a block one thread frees back and
/// another then takes is ordered like a lock handing it over.
#[repr(C, align(4096))]
struct Arena<const N: usize> {
    buf: UnsafeCell<[u8; N]>,
    /// Offset of the first free byte.
    top: AtomicUsize,
}

// SAFETY: bytes are handed out once each (by the CAS on top); no two callers share one.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    const fn new() -> Self {
        Arena {
            buf: UnsafeCell::new([0; N]),
            top: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> *mut u8 {
        self.buf.get().cast()
    }

    fn contains(&self, p: *mut u8) -> bool {
        (p as usize).wrapping_sub(self.base() as usize) < N
    }

    /// Takes `size` bytes aligned to `align` (at least MIN_ALIGN), or None when they do not fit.
    fn bump(&self, size: usize, align: usize) -> Option<*mut u8> {
        let base = self.base() as usize;
        let mut top = self.top.load(Ordering::Acquire);
        loop {
            let start = (base + top).checked_next_multiple_of(align.max(MIN_ALIGN))? - base;
            let end = start.checked_add(size).filter(|&e| e <= N)?;
            match self
                .top
                .compare_exchange_weak(top, end, Ordering::AcqRel, Ordering::Acquire)
            {
                // Derived from the arena's pointer (provenance), at an offset inside it.
                Ok(_) => return Some(self.base().wrapping_add(start)),
                Err(now) => top = now,
            }
        }
    }

    /// Moves the top from the end of the block at `p` (of `old` bytes) to `new_end` bytes past
    /// `p`, if that block is the newest one. False when it is not (or `new_end` does not fit).
    fn move_top(&self, p: *mut u8, old: usize, new_end: usize) -> bool {
        let off = p as usize - self.base() as usize;
        let Some(end) = off.checked_add(new_end).filter(|&e| e <= N) else {
            return false;
        };
        (self.top)
            .compare_exchange(off + old, end, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

static ARENA: Arena<SIZE> = Arena::new();

pub struct BumpThenSystem;

/// The allocator's logic over any arena (the unit tests use small ones of their own).
unsafe fn alloc_in<const N: usize>(a: &Arena<N>, layout: Layout, zeroed: bool) -> *mut u8 {
    match a.bump(layout.size(), layout.align()) {
        Some(p) => {
            // .bss starts zeroed, but a block freed back to the top may have been written.
            if zeroed {
                unsafe { p.write_bytes(0, layout.size()) };
            }
            p
        }
        None if zeroed => unsafe { System.alloc_zeroed(layout) },
        None => unsafe { System.alloc(layout) },
    }
}

unsafe fn dealloc_in<const N: usize>(a: &Arena<N>, p: *mut u8, layout: Layout) {
    if a.contains(p) {
        a.move_top(p, layout.size(), 0);
    } else {
        unsafe { System.dealloc(p, layout) }
    }
}

unsafe fn realloc_in<const N: usize>(
    a: &Arena<N>,
    p: *mut u8,
    layout: Layout,
    new_size: usize,
) -> *mut u8 {
    if !a.contains(p) {
        return unsafe { System.realloc(p, layout, new_size) };
    }
    if new_size <= layout.size() {
        // Shrunk: if it is the newest block, the rest goes back.
        a.move_top(p, layout.size(), new_size);
        return p;
    }
    if a.move_top(p, layout.size(), new_size) {
        return p; // the newest block, grown in place
    }
    // SAFETY: the caller guarantees new_size, rounded up to the alignment, fits isize.
    let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
    let new = unsafe { alloc_in(a, new_layout, false) };
    if !new.is_null() {
        unsafe {
            std::ptr::copy_nonoverlapping(p, new, layout.size());
            dealloc_in(a, p, layout);
        }
    }
    new
}

// SAFETY: blocks come from the arena (each handed out once, aligned as asked) or from
// System, and each goes back to where it came from (Arena::contains tells).
unsafe impl GlobalAlloc for BumpThenSystem {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { alloc_in(&ARENA, layout, false) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { alloc_in(&ARENA, layout, true) }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { dealloc_in(&ARENA, p, layout) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { realloc_in(&ARENA, p, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    /// A small arena of the test's own (the global one is shared with the other tests'
    /// threads), boxed: it is too big for comfort on a test thread's stack.
    fn arena() -> Box<Arena<4096>> {
        Box::new(Arena::new())
    }

    #[test]
    fn newest_block_grows_in_place_and_frees_back() {
        let a = arena();
        unsafe {
            let p = alloc_in(&*a, layout(24, 8), false);
            assert!(a.contains(p));
            p.write_bytes(7, 24);
            let q = realloc_in(&*a, p, layout(24, 8), 1000);
            assert_eq!(q, p, "the newest block grows in place");
            assert_eq!(*q.add(23), 7);
            dealloc_in(&*a, q, layout(1000, 8));
            assert_eq!(a.top.load(Ordering::Relaxed), 0, "freed back to the start");
        }
    }

    #[test]
    fn older_block_grows_by_copy_and_stays_readable() {
        let a = arena();
        unsafe {
            let p = alloc_in(&*a, layout(16, 8), false);
            p.write_bytes(9, 16);
            let q = alloc_in(&*a, layout(16, 8), false);
            let r = realloc_in(&*a, p, layout(16, 8), 64);
            assert!(r != p && r != q && a.contains(r));
            assert_eq!(*r.add(15), 9);
        }
    }

    #[test]
    fn zeroed_after_a_freed_block_is_reused() {
        let a = arena();
        unsafe {
            let p = alloc_in(&*a, layout(64, 16), false);
            p.write_bytes(0xAA, 64);
            dealloc_in(&*a, p, layout(64, 16));
            let z = alloc_in(&*a, layout(64, 16), true);
            assert_eq!(z, p, "the same bytes again");
            assert!((0..64).all(|i| *z.add(i) == 0));
        }
    }

    #[test]
    fn alignment_and_fallback() {
        let a = arena();
        unsafe {
            let p = alloc_in(&*a, layout(100, 1024), false);
            assert!(a.contains(p) && p as usize % 1024 == 0);
            // bytes come at malloc's alignment too
            let (x, y) = (
                alloc_in(&*a, layout(3, 1), false),
                alloc_in(&*a, layout(3, 1), false),
            );
            assert_eq!((x as usize % MIN_ALIGN, y as usize % MIN_ALIGN), (0, 0));
            // more than is left: from System, zeroed when asked
            let big = layout(8192, 8);
            let b = alloc_in(&*a, big, true);
            assert!(!b.is_null() && !a.contains(b));
            assert_eq!(*b.add(8191), 0);
            dealloc_in(&*a, b, big);
        }
    }
}
