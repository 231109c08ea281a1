//! A global allocator that counts heap bytes in use and their peak, for
//! memory tests and benches (included with `#[path]`; install it with
//! `#[global_allocator] static A: Counting = Counting(System);`, or over
//! another allocator).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Bytes in use now.
pub static NOW: AtomicUsize = AtomicUsize::new(0);
/// Most bytes in use at once (reset by storing `NOW`).
pub static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The counting allocator, over another one.
pub struct Counting<A>(pub A);

fn grow(n: usize) {
    let now = NOW.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
}

#[allow(unsafe_code)]
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grow(l.size());
        unsafe { self.0.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Relaxed);
        unsafe { self.0.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            grow(new - l.size());
        } else {
            NOW.fetch_sub(l.size() - new, Relaxed);
        }
        unsafe { self.0.realloc(p, l, new) }
    }
}
