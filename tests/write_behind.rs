//! Writes behind: an overwrite of stored bytes returns before the actor runs
//! it. Every reader must still see it once it returned, its space must be
//! there when it runs, and a commit must not lose it. Timeouts only turn a
//! hang into a failure.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{CREATE, bounded};
use futures::FutureExt;
use strata::actor::{Delayed, Error, VfsBuilder, VfsHandle};
use strata::fs::{
    CHUNK_SIZE, Clock, Errno, ForkId, Ino, Limits, ManualClock, MemBase, OpenFlags, Timestamp,
};

/// A file of one whole stored chunk, `fill` bytes, in a fresh fork.
async fn chunk_file(vfs: &VfsHandle, name: &str, fill: u8) -> (ForkId, Ino, Ino) {
    let fork = ForkId::ROOT;
    let root = vfs.open_root(fork).await.unwrap().into_raw().1;
    let file = vfs
        .open_at(fork, root, name, true, CREATE, true)
        .await
        .unwrap();
    let data = Bytes::from(vec![fill; CHUNK_SIZE as usize]);
    vfs.write(fork, file.ino(), 0, data).await.unwrap();
    (fork, root, file.into_raw().1)
}

/// Writes in place without letting the actor run: the call must finish
/// without waiting for it — that is what makes it a write behind.
fn write_behind(vfs: &VfsHandle, fork: ForkId, ino: Ino, offset: u64, data: &'static [u8]) {
    let written = vfs
        .write(fork, ino, offset, Bytes::from_static(data))
        .now_or_never()
        .expect("an overwrite in place returns before the actor runs it");
    assert_eq!(written.unwrap(), data.len());
}

/// On a current-thread runtime the actor runs only when the test awaits
/// something that waits for it, so each write below is still on its way
/// when the next reader looks.
#[tokio::test]
async fn every_reader_sees_a_write_behind_once_it_returned() {
    let clock = Arc::new(ManualClock::new(Timestamp::from_nanos(1_000)));
    let vfs = VfsBuilder::new().clock(clock.clone()).spawn();
    let (fork, root, ino) = chunk_file(&vfs, "f", b'.').await;
    let other = vfs.clone();

    write_behind(&vfs, fork, ino, 10, b"one");
    assert!(
        other.read_snapshot(fork, |r| r.read(ino, 10, 3)).is_none(),
        "a snapshot without the write must not be read"
    );
    assert_eq!(other.read(fork, ino, 10, 3).await.unwrap().concat(), b"one");

    // The clock moves before each write: a stat that shows the time of
    // the write before it lacks this one. The time is the write's own,
    // not when the actor ran it; a stat lays it over without waiting too.
    clock.advance(1_000);
    write_behind(&vfs, fork, ino, 20, b"two");
    let written_at = clock.now();
    clock.advance(1_000);
    let stat = other.stat(fork, ino).now_or_never().expect("stat waited");
    let stat = stat.unwrap();
    assert_eq!(stat.mtime, written_at, "stat by handle lacks the write");
    assert_eq!((stat.ctime, stat.size), (written_at, CHUNK_SIZE));

    write_behind(&vfs, fork, ino, 30, b"three");
    let by_path = other.stat_at(fork, root, "f", true).now_or_never();
    let by_path = by_path.expect("stat by path waited").unwrap();
    assert_eq!(by_path.mtime, clock.now(), "stat by path lacks the write");
    clock.advance(1_000);
    vfs.flush().await.unwrap();
    let ran = other.stat(fork, ino).await.unwrap();
    assert_eq!(ran.mtime, by_path.mtime, "the actor stamped its own time");

    write_behind(&vfs, fork, ino, 40, b"four");
    let whole = other.read_file(fork, "f").await.unwrap();
    assert_eq!(&whole[40..44], b"four");

    write_behind(&vfs, fork, ino, 50, b"five");
    let snapshot = other.snapshot(fork).await.unwrap();
    let got = snapshot.reader().read(ino, 0, 60).unwrap().concat();
    assert_eq!(
        &got[10..],
        b"one.......two.......three.....four......five......"
    );

    write_behind(&vfs, fork, ino, 60, b"six");
    let child = other.fork(fork).await.unwrap();
    assert_eq!(
        other.read(child, ino, 60, 3).await.unwrap().concat(),
        b"six"
    );
}

/// A reader lays the writes still on their way over the snapshot, in the
/// order they returned, without waiting for the actor; once the actor ran
/// them the snapshot alone says the same.
#[tokio::test]
async fn a_read_lays_queued_writes_over_the_snapshot() {
    let vfs = VfsBuilder::new().spawn();
    let (fork, _, ino) = chunk_file(&vfs, "f", b'.').await;
    write_behind(&vfs, fork, ino, 0, b"aaaaaa");
    write_behind(&vfs, fork, ino, 2, b"bb");
    write_behind(&vfs, fork, ino, 4, b"cccc");
    let read = vfs
        .read(fork, ino, 1, 8)
        .now_or_never()
        .expect("a read of queued writes waited for the actor");
    assert_eq!(read.unwrap().concat(), b"abbcccc.");
    vfs.flush().await.unwrap();
    let published = vfs.read_snapshot(fork, |r| r.read(ino, 1, 8));
    assert_eq!(published.unwrap().unwrap().concat(), b"abbcccc.");
}

/// While the actor has started changing the fork and not yet published
/// (here: an open parked on a slow backend), the snapshot plus the queued
/// writes need not be the file's next state, so a reader of queued writes
/// asks the actor.
#[tokio::test]
async fn a_read_of_queued_writes_waits_while_the_fork_is_being_changed() {
    let base = MemBase::builder().file("slow", &b"base"[..]).build();
    let vfs = VfsBuilder::new()
        .backend(Delayed::new(base, Duration::from_millis(20)))
        .spawn();
    let (fork, root, ino) = chunk_file(&vfs, "f", b'.').await;
    let parked = tokio::spawn({
        let vfs = vfs.clone();
        async move {
            let flags = OpenFlags::default();
            vfs.open_at(fork, root, "slow", true, flags, false).await
        }
    });
    tokio::task::yield_now().await; // the open is queued
    vfs.flush().await.unwrap(); // and parked, its fetch running
    write_behind(&vfs, fork, ino, 0, b"new");
    let read = vfs.read(fork, ino, 0, 4);
    tokio::pin!(read);
    assert!(
        futures::poll!(&mut read).is_pending(),
        "read queued writes over a snapshot the actor is changing"
    );
    assert_eq!(read.await.unwrap().concat(), b"new.");
    parked.await.unwrap().unwrap();
}

/// What cannot run without a round trip does not go behind: growth, base
/// data, new space. Each answers only once the actor ran it.
#[tokio::test]
async fn only_overwrites_of_stored_bytes_go_behind() {
    let base = MemBase::builder().file("base", vec![1u8; 100]).build();
    let vfs = VfsBuilder::new().image(base).spawn();
    let fork = ForkId::ROOT;
    let root = vfs.open_root(fork).await.unwrap();
    let base_file = vfs
        .open_at(fork, root.ino(), "base", true, OpenFlags::default(), true)
        .await
        .unwrap();
    let waits = |ino: Ino, offset: u64, len: usize| {
        let data = Bytes::from(vec![9u8; len]);
        vfs.write(fork, ino, offset, data).now_or_never().is_none()
    };
    // Still in the base: copying it up takes space.
    assert!(waits(base_file.ino(), 0, 10));
    // Now stored: an overwrite goes behind; one past the end does not.
    vfs.flush().await.unwrap();
    let (_, _, ino) = chunk_file(&vfs, "f", 0).await;
    assert!(!waits(ino, CHUNK_SIZE - 10, 10));
    assert!(
        waits(ino, CHUNK_SIZE - 10, 11),
        "a growing write went behind"
    );
    vfs.flush().await.unwrap();
    // A hole is not stored: writing into it takes space.
    vfs.set_size(fork, ino, 3 * CHUNK_SIZE).await.unwrap();
    assert!(
        waits(ino, 2 * CHUNK_SIZE, 10),
        "a write into a hole went behind"
    );
}

/// A guest that never yields cannot queue without bound: past the number
/// of writes, or of bytes, on their way, the next write waits for the actor
/// (which takes them all in). The host sets both; `(0, 0)` turns writes
/// behind off.
#[tokio::test]
async fn writes_behind_are_bounded() {
    async fn behind_before_a_wait(limits: (u32, u64), len: usize) -> usize {
        let vfs = VfsBuilder::new().write_behind(limits.0, limits.1).spawn();
        let (fork, _, ino) = chunk_file(&vfs, "f", 0).await;
        let data = Bytes::from(vec![1; len]);
        let mut behind = 0;
        while vfs
            .write(fork, ino, 0, data.clone())
            .now_or_never()
            .is_some()
        {
            behind += 1;
            assert!(behind <= 100_000, "writes behind are not bounded");
        }
        behind
    }
    assert_eq!(behind_before_a_wait((256, 4 << 20), 1).await, 256);
    assert_eq!(behind_before_a_wait((3, u64::MAX), 1).await, 3);
    assert_eq!(behind_before_a_wait((100, 10_000), 4096).await, 2);
    assert_eq!(behind_before_a_wait((0, 0), 1).await, 0);
}

/// A fork committed while its guest writes: every write that returned
/// before the commit is in the parent, and every later one fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_keeps_every_write_that_returned() {
    let vfs = VfsBuilder::new().limits(Limits::unlimited()).spawn();
    chunk_file(&vfs, "f", 0).await;
    for round in 0..1000u64 {
        let fork = vfs.fork(ForkId::ROOT).await.unwrap();
        let root = vfs.open_root(fork).await.unwrap();
        let file = vfs
            .open_at(fork, root.ino(), "f", true, OpenFlags::default(), true)
            .await
            .unwrap();
        let ino = file.ino();
        // Stored in the fork's own layer, so that overwrites go behind.
        vfs.write(fork, ino, 0, Bytes::from(vec![1; CHUNK_SIZE as usize]))
            .await
            .unwrap();
        let writer = tokio::spawn({
            let vfs = vfs.clone();
            async move {
                let mut last = 0u64;
                for v in 1u64.. {
                    let data = Bytes::copy_from_slice(&v.to_le_bytes());
                    match vfs.write(fork, ino, 0, data).await {
                        Ok(_) => last = v,
                        Err(_) => break,
                    }
                    if v % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                drop(file);
                last
            }
        });
        tokio::time::sleep(Duration::from_micros(50 + round % 7 * 30)).await;
        bounded("commit", vfs.commit(fork)).await.unwrap();
        // The commit may even beat the first write; then the fill stands.
        let last = match bounded("writer", writer).await.unwrap() {
            0 => u64::from_le_bytes([1; 8]),
            last => last,
        };
        let head = vfs.read(ForkId::ROOT, ino, 0, 8).await.unwrap().concat();
        assert_eq!(
            u64::from_le_bytes(head.try_into().unwrap()),
            last,
            "round {round}: the parent lacks the last write that returned"
        );
    }
}

/// Space held back for writes behind: a file shrunk and its space taken
/// while an overwrite of it is on its way must not make that overwrite
/// fail when it runs (the actor would panic on it in a debug build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shrinks_racing_writes_behind_never_leave_one_without_space() {
    let limits = Limits {
        max_bytes: 2 * CHUNK_SIZE,
        ..Limits::default()
    };
    let vfs = VfsBuilder::new().limits(limits).spawn();
    let (fork, root, a) = chunk_file(&vfs, "a", 1).await;
    let b = vfs
        .open_at(fork, root, "b", true, CREATE, true)
        .await
        .unwrap()
        .into_raw()
        .1;
    let writer = tokio::spawn({
        let vfs = vfs.clone();
        async move {
            for i in 0..20_000u64 {
                let offset = i * 4096 % CHUNK_SIZE;
                let data = Bytes::from(vec![2u8; 4096]);
                match vfs.write(fork, a, offset, data).await {
                    Ok(_) | Err(Error::Errno(Errno::InsufficientSpace)) => {}
                    Err(e) => panic!("writer: {e:?}"),
                }
            }
        }
    });
    let shrinker = tokio::spawn({
        let vfs = vfs.clone();
        async move {
            for _ in 0..2_000 {
                vfs.set_size(fork, a, 0).await.unwrap();
                // Take what the shrink freed, and more.
                let fill = Bytes::from(vec![3u8; 2 * CHUNK_SIZE as usize]);
                match vfs.write(fork, b, 0, fill).await {
                    Ok(_) | Err(Error::Errno(Errno::InsufficientSpace)) => {}
                    Err(e) => panic!("shrinker: {e:?}"),
                }
                vfs.set_size(fork, b, 0).await.unwrap();
                let back = Bytes::from(vec![1u8; CHUNK_SIZE as usize]);
                match vfs.write(fork, a, 0, back).await {
                    Ok(_) | Err(Error::Errno(Errno::InsufficientSpace)) => {}
                    Err(e) => panic!("shrinker: {e:?}"),
                }
            }
        }
    });
    bounded("writer", writer).await.unwrap();
    bounded("shrinker", shrinker).await.unwrap();
    let usage = vfs.usage(fork).await.expect("the actor is still up");
    assert!(usage.bytes <= limits.max_bytes);
}

/// A commit that fails leaves the fork as it was, writes behind included.
#[tokio::test]
async fn a_failed_commit_lets_writes_behind_go_on() {
    let vfs = VfsBuilder::new().spawn();
    chunk_file(&vfs, "f", 0).await;
    let fork = vfs.fork(ForkId::ROOT).await.unwrap();
    let root = vfs.open_root(fork).await.unwrap();
    let ino = vfs
        .open_at(fork, root.ino(), "f", true, OpenFlags::default(), true)
        .await
        .unwrap()
        .into_raw()
        .1;
    write_behind(&vfs, fork, ino, 0, b"child");
    vfs.write_file(ForkId::ROOT, "f", b"parent").await.unwrap();
    let refused = vfs.commit(fork).await.unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)), "{refused:?}");
    write_behind(&vfs, fork, ino, 5, b" again");
    assert_eq!(
        vfs.read(fork, ino, 0, 11).await.unwrap().concat(),
        b"child again"
    );
}

/// Across threads: a reader told (over a channel) that a write returned
/// reads that write or a later one, never an earlier one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_told_of_a_write_reads_it_on_another_thread() {
    let vfs = VfsBuilder::new().spawn();
    let (fork, root, ino) = chunk_file(&vfs, "f", 0).await;
    let (told, mut hear) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let writer = tokio::spawn({
        let vfs = vfs.clone();
        async move {
            for v in 1..=20_000u64 {
                let data = Bytes::copy_from_slice(&v.to_le_bytes());
                vfs.write(fork, ino, 0, data).await.unwrap();
                told.send(v).unwrap();
                if v % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }
    });
    let reader = tokio::spawn({
        let vfs = vfs.clone();
        async move {
            let mut checked = 0;
            while let Some(v) = hear.recv().await {
                let got = match v % 3 {
                    0 => vfs.read(fork, ino, 0, 8).await.unwrap().concat(),
                    1 => vfs.read_file(fork, "f").await.unwrap()[..8].to_vec(),
                    _ => {
                        // Same file through a path: stat must show a size.
                        let stat = vfs.stat_at(fork, root, "f", true).await.unwrap();
                        assert_eq!(stat.size, CHUNK_SIZE);
                        vfs.read(fork, ino, 0, 8).await.unwrap().concat()
                    }
                };
                let seen = u64::from_le_bytes(got.try_into().unwrap());
                assert!(seen >= v, "told of write {v}, read {seen}");
                checked += 1;
            }
            checked
        }
    });
    bounded("writer", writer).await.unwrap();
    let checked = bounded("reader", reader).await.unwrap();
    assert_eq!(checked, 20_000);
}

/// Across threads, with writes behind and round trips interleaved (past
/// 16 queued, a write makes one), a reader sees only states the file goes
/// through. Every write puts its number in bytes 0..8; every 17th — the
/// one that makes the round trip — in 8..16 too, so bytes 0..8 never hold
/// a smaller number than 8..16. Laying writes a snapshot already holds over
/// it again would undo part of the round trip that followed them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_only_states_the_file_goes_through() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let vfs = VfsBuilder::new().write_behind(16, u64::MAX).spawn();
    let (fork, _, ino) = chunk_file(&vfs, "f", 0).await;
    let done = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn({
        let (vfs, done) = (vfs.clone(), done.clone());
        async move {
            let number = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap());
            let mut last = 0;
            while !done.load(SeqCst) {
                let got = vfs.read(fork, ino, 0, 16).await.unwrap().concat();
                let (latest, wide) = (number(&got[..8]), number(&got[8..]));
                assert!(latest >= wide, "read {latest} over {wide}");
                assert!(latest >= last, "read {latest} after {last}");
                last = latest;
                // A read never waits, so let the worker run others.
                tokio::task::yield_now().await;
            }
        }
    });
    for v in 1..=200_000u64 {
        let mut data = v.to_le_bytes().to_vec();
        if v % 17 == 0 {
            data.extend_from_slice(&v.to_le_bytes());
        }
        vfs.write(fork, ino, 0, Bytes::from(data)).await.unwrap();
    }
    done.store(true, SeqCst);
    bounded("reader", reader).await.unwrap();
}
