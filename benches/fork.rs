//! Fork cost against tree size: fork a tree of 1k / 10k / 100k files, open
//! one file by path in the fork and write one byte into it, then drop the
//! fork. If forking were O(tree) the time would grow 100× across the range;
//! it should stay flat (the write path is O(depth · log n)).
//!
//! Also reports the memory an idle fork costs, counted by the allocator: in
//! the core, and through the actor (which also publishes a snapshot of it).
//!
//! Run: `cargo bench --bench fork`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use strata::actor::VfsBuilder;
use strata::fs::{ForkId, Limits, MemBase, OpenFlags, SystemClock, Vfs};

/// Counts live heap bytes, to measure what an idle fork holds.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const FILES_PER_DIR: usize = 100;

/// A filesystem whose root fork holds `files` small files in the upper
/// layer, 100 per directory.
fn upper_tree(files: usize) -> Vfs {
    let mut vfs = Vfs::with(
        Arc::new(MemBase::empty()),
        Limits::unlimited(),
        Arc::new(SystemClock),
    );
    let f = ForkId::ROOT;
    let root = vfs.open_root(f).unwrap();
    let create = OpenFlags {
        create: true,
        ..OpenFlags::default()
    };
    for d in 0..files.div_ceil(FILES_PER_DIR) {
        vfs.create_dir_at(f, root, &format!("d{d}")).unwrap();
        for i in 0..FILES_PER_DIR.min(files - d * FILES_PER_DIR) {
            let (ino, _) = vfs
                .open_at(f, root, &format!("d{d}/f{i}"), true, create, true)
                .unwrap();
            vfs.write(f, ino, 0, b"data").unwrap();
            vfs.release(f, ino);
        }
    }
    vfs
}

/// The same tree as a base image.
fn base_image(files: usize) -> MemBase {
    let mut b = MemBase::builder();
    for d in 0..files.div_ceil(FILES_PER_DIR) {
        for i in 0..FILES_PER_DIR.min(files - d * FILES_PER_DIR) {
            b = b.file(&format!("d{d}/f{i}"), &b"data"[..]);
        }
    }
    b.build()
}

/// A filesystem over that image.
fn base_tree(files: usize) -> Vfs {
    Vfs::with(
        Arc::new(base_image(files)),
        Limits::unlimited(),
        Arc::new(SystemClock),
    )
}

fn fork_and_first_write(vfs: &mut Vfs, path: &str) {
    let fork = vfs.fork(ForkId::ROOT).unwrap();
    let root = vfs.open_root(fork).unwrap();
    let (ino, _) = vfs
        .open_at(fork, root, path, true, OpenFlags::default(), true)
        .unwrap();
    black_box(vfs.write(fork, ino, 1, b"X").unwrap());
    vfs.discard(fork).unwrap();
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("fork + first write");
    for files in [1_000, 10_000, 100_000] {
        let path = format!("d{}/f{}", files / FILES_PER_DIR / 2, FILES_PER_DIR / 2);
        let mut vfs = upper_tree(files);
        group.bench_with_input(BenchmarkId::new("upper layer", files), &files, |b, _| {
            b.iter(|| fork_and_first_write(&mut vfs, &path))
        });
        let mut vfs = base_tree(files);
        group.bench_with_input(BenchmarkId::new("base image", files), &files, |b, _| {
            b.iter(|| fork_and_first_write(&mut vfs, &path))
        });
    }
    group.finish();

    let mut vfs = upper_tree(100_000);
    let before = LIVE.load(Ordering::Relaxed);
    let forks: Vec<ForkId> = (0..10_000)
        .map(|_| vfs.fork(ForkId::ROOT).unwrap())
        .collect();
    let per_fork = (LIVE.load(Ordering::Relaxed) - before) / forks.len();
    println!("memory per idle fork of a 100k-file tree: {per_fork} bytes");
    drop(vfs);

    // Through the actor a fork also has a published snapshot and a cell in
    // the map handles read it from.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let vfs = VfsBuilder::new().image(base_image(100_000)).spawn();
        vfs.root().fork().await.unwrap();
        let before = LIVE.load(Ordering::Relaxed);
        let mut forks = Vec::new();
        for _ in 0..10_000 {
            forks.push(vfs.root().fork().await.unwrap().id());
        }
        let per_fork = (LIVE.load(Ordering::Relaxed) - before) / forks.len();
        println!("memory per idle fork through the actor (with its snapshot): {per_fork} bytes");
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
