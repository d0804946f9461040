//! The host's budget against the memory really held: a counting allocator
//! watches the heap while guests' kinds of writes go through the core, and
//! what the meter says must match what stays allocated.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use strata::fs::{
    Budget, CHUNK_SIZE, Errno, ForkId, Ino, Limits, ManualClock, MemBase, OpenFlags, SetTime, Vfs,
};

/// Counts the bytes the heap holds.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        LIVE.fetch_add(size as i64 - layout.size() as i64, Relaxed);
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static HEAP: Counting = Counting;

/// The heap is one for the whole binary: one measurement at a time.
fn alone() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(PoisonError::into_inner)
}

use common::CREATE;

const P: ForkId = ForkId::ROOT;

fn vfs(base: MemBase, limits: Limits, budget: Budget) -> Vfs {
    Vfs::with(Arc::new(base), limits, Arc::new(ManualClock::default())).with_budget(budget)
}

fn err<T: std::fmt::Debug>(r: strata::fs::Result<T>) -> Errno {
    r.unwrap_err().errno().expect("an errno")
}

/// A write cut short at `Limits::max_io` keeps only what it wrote, not the
/// caller's whole buffer (a guest may pass a huge one).
#[test]
fn a_write_cut_short_keeps_none_of_the_rest_of_its_buffer() {
    let _alone = alone();
    let limits = Limits {
        max_io: 4096,
        ..Limits::default()
    };
    let mut v = vfs(MemBase::empty(), limits, Budget::default());
    let root = v.open_root(P).unwrap();
    let (ino, _) = v.open_at(P, root, "f", true, CREATE, true).unwrap();
    let before = LIVE.load(Relaxed);
    for k in 0..16u64 {
        let data = Bytes::from(vec![1u8; 4 << 20]);
        assert_eq!(v.write_bytes(P, ino, k * CHUNK_SIZE, &data).unwrap(), 4096);
    }
    let grew = LIVE.load(Relaxed) - before;
    assert_eq!(v.budget_used().bytes, 16 * 4096);
    assert!(grew < 1 << 20, "{grew} bytes kept for 64 KiB written");
}

/// The host's own `write_file` of more than one write can carry leaves no
/// chunk holding the whole input alive.
#[test]
fn write_file_keeps_no_chunk_pinning_its_input() {
    let _alone = alone();
    let mut v = vfs(MemBase::empty(), Limits::default(), Budget::default());
    let before = LIVE.load(Relaxed);
    v.write_file(P, "big", &vec![7u8; (16 << 20) + 4096])
        .unwrap();
    let root = v.open_root(P).unwrap();
    let (ino, _) = v
        .open_at(P, root, "big", true, OpenFlags::default(), true)
        .unwrap();
    v.write_zeroes(P, ino, 0, 16 << 20).unwrap();
    let grew = LIVE.load(Relaxed) - before;
    assert_eq!(v.budget_used().bytes, 4096);
    assert!(grew < 1 << 20, "{grew} bytes kept for a 4 KiB file");
}

/// Opens the root and the base file `b` in it for writing.
fn open_b_for_writing(v: &mut Vfs) -> (Ino, Ino) {
    let root = v.open_root(P).unwrap();
    let (ino, _) = v
        .open_at(P, root, "b", true, OpenFlags::default(), true)
        .unwrap();
    (root, ino)
}

/// Zeros that cut a base chunk short leave the file its own, counted copy
/// of what remains, not a slice of the base's chunk.
#[test]
fn zeroing_the_tail_of_a_base_chunk_is_counted() {
    let _alone = alone();
    let base = MemBase::builder()
        .file("b", vec![9u8; 8 * CHUNK_SIZE as usize])
        .build();
    let mut v = vfs(base, Limits::default(), Budget::default());
    let (_, ino) = open_b_for_writing(&mut v);
    for k in 0..8 {
        v.write_zeroes(P, ino, k * CHUNK_SIZE + 1, CHUNK_SIZE - 1)
            .unwrap();
    }
    assert_eq!(v.usage(P).unwrap().bytes, 8);
    assert_eq!(v.budget_used().bytes, 8);
}

/// A symlink's target is memory too: it counts against the budget's bytes.
#[test]
fn symlink_targets_count_as_bytes() {
    let _alone = alone();
    let budget = Budget {
        max_bytes: 10_000,
        max_inodes: 1_000,
    };
    let mut v = vfs(MemBase::empty(), Limits::default(), budget);
    let root = v.open_root(P).unwrap();
    let target = "t".repeat(4000);
    v.symlink_at(P, &target, root, "one").unwrap();
    v.symlink_at(P, &target, root, "two").unwrap();
    assert_eq!(v.budget_used().bytes, 8000);
    assert_eq!(
        err(v.symlink_at(P, &target, root, "three")),
        Errno::InsufficientSpace
    );
    v.unlink_file_at(P, root, "one").unwrap();
    assert_eq!(v.budget_used().bytes, 4000);
}

/// Copying base inodes up to change them counts, and is refused once the
/// inodes are spent — but deleting still works, and frees.
#[test]
fn copy_ups_past_the_inode_budget_are_refused_but_deleting_works() {
    let _alone = alone();
    let mut image = MemBase::builder();
    for i in 0..20 {
        image = image.file(&format!("d/f{i}"), &b"x"[..]);
    }
    let budget = Budget {
        max_bytes: u64::MAX,
        max_inodes: 10,
    };
    let mut v = vfs(image.build(), Limits::default(), budget);
    let root = v.open_root(P).unwrap();
    let fork = v.fork(P).unwrap();
    let touch = |v: &mut Vfs, f: ForkId, i: usize| {
        v.set_times_at(
            f,
            root,
            &format!("d/f{i}"),
            true,
            SetTime::Now,
            SetTime::Keep,
        )
    };
    for i in 0..10 {
        touch(&mut v, fork, i).unwrap();
    }
    assert_eq!(v.budget_used().inodes, 10);
    assert_eq!(err(touch(&mut v, fork, 10)), Errno::InsufficientSpace);
    assert_eq!(err(touch(&mut v, P, 0)), Errno::InsufficientSpace);
    // Deleting copies up the directory (an eleventh inode), and works.
    v.unlink_file_at(P, root, "d/f0").unwrap();
    v.discard(fork).unwrap();
    assert_eq!(v.budget_used().inodes, 1, "the parent's copy of d");
}

/// Once every fork, snapshot and clone is gone, nothing is left allocated.
#[test]
fn everything_counted_goes_with_the_filesystem() {
    let _alone = alone();
    let before = LIVE.load(Relaxed);
    {
        let base = MemBase::builder()
            .file("b", vec![9u8; 3 * CHUNK_SIZE as usize])
            .build();
        let mut v = vfs(base, Limits::default(), Budget::default());
        let (root, ino) = open_b_for_writing(&mut v);
        v.write(P, ino, 10, b"abc").unwrap();
        let child = v.fork(P).unwrap();
        v.write_file(child, "n", &[1u8; 100_000]).unwrap();
        v.unlink_file_at(P, root, "b").unwrap();
        v.commit(child).unwrap();
        let snapshot = v.snapshot(P).unwrap();
        let clone = v.clone();
        drop(v);
        assert!(clone.budget_used().bytes >= 100_000);
        drop((clone, snapshot));
    }
    let left = LIVE.load(Relaxed) - before;
    assert!(left.abs() < 4096, "{left} bytes left behind");
}
