//! Races between a handle and the actor, replayed one step at a time: a
//! handle's steps are split where the actor may run in between, or the
//! actor's where a handle may, and the other side is let run exactly there.
//! Stress tests (`tests/write_behind.rs`) reach these windows only by luck.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::FutureExt;

use super::VfsBuilder;
use super::task::Actor;
use crate::fs::{BatchWrite, ForkId, OpenFlags, Timestamp};

const CREATE: OpenFlags = OpenFlags {
    create: true,
    directory: false,
    exclusive: false,
    truncate: false,
};

/// Polls `call` once: a round trip queues its request and waits.
fn poll_once<F: Future>(call: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    call.poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
}

/// Runs a call on a handle whose actor is not spawned: the actor takes one
/// step while the call waits for it.
fn round_trip<T>(actor: &mut Actor, call: impl Future<Output = T>) -> T {
    let mut call = pin!(call);
    if let Poll::Ready(done) = poll_once(call.as_mut()) {
        return done;
    }
    actor.step();
    match poll_once(call) {
        Poll::Ready(done) => done,
        Poll::Pending => panic!("the actor did not answer in one step"),
    }
}

/// A write goes behind just after the actor read the notes, and a reader
/// lays it over the snapshot: for that reader it came first. An operation on
/// the same bytes that the actor then runs in the same wake-up must come
/// after it too, or a later reader sees the two in the other order.
#[test]
fn queued_writes_run_before_the_next_change_to_their_fork() {
    let (vfs, mut actor) = VfsBuilder::new().build();
    let fork = ForkId::ROOT;
    let root = round_trip(&mut actor, vfs.open_root(fork)).unwrap();
    let open = vfs.open_at(fork, root.ino(), "f", true, CREATE, true);
    let ino = round_trip(&mut actor, open).unwrap().ino();
    let dots = Bytes::from(vec![b'.'; 32]);
    round_trip(&mut actor, vfs.write(fork, ino, 0, dots)).unwrap();

    let behind = vfs.write(fork, ino, 0, Bytes::from_static(b"wwwwwwww"));
    assert_eq!(behind.now_or_never().expect("went behind"), Ok(8));
    let seen = vfs.read_now(fork, ino, 0, 32).expect("laid over").unwrap();
    assert_eq!(seen.concat(), [&b"wwwwwwww"[..], &[b'.'; 24]].concat());

    let mut zeroes = pin!(vfs.write_zeroes(fork, ino, 0, 16));
    assert!(poll_once(zeroes.as_mut()).is_pending());
    actor.serve_without_reading_notes();
    assert_eq!(poll_once(zeroes), Poll::Ready(Ok(16)));

    let later = round_trip(&mut actor, vfs.read(fork, ino, 0, 32)).unwrap();
    assert_eq!(
        later.concat(),
        [&[0; 16][..], &[b'.'; 16]].concat(),
        "the zeroes ran before the write a reader had seen"
    );
}

/// A write judged in place just before a shrink, but queued only after the
/// actor ran the shrink, runs after it and grows the file back. Laid over
/// the shrunk snapshot (and clipped to it) it would show a state the file
/// never has, so a reader must ask the actor.
#[tokio::test]
async fn a_write_queued_after_a_shrink_is_not_laid_over_it() {
    let vfs = VfsBuilder::new().spawn();
    let fork = ForkId::ROOT;
    let root = vfs.open_root(fork).await.unwrap();
    let file = vfs
        .open_at(fork, root.ino(), "f", true, CREATE, true)
        .await
        .unwrap();
    let ino = file.ino();
    vfs.write(fork, ino, 0, Bytes::from(vec![b'.'; 100]))
        .await
        .unwrap();

    let forks = vfs.shared.forks.load();
    let cell = forks.get(&fork).unwrap();
    let reserved = vfs.shared.hold_write(cell, ino, 40, 20).expect("in place");
    vfs.set_size(fork, ino, 50).await.unwrap();
    let write = BatchWrite {
        ino,
        offset: 40,
        data: Bytes::from(vec![b'W'; 20]),
        at: Timestamp::from_nanos(1),
    };
    vfs.queue_behind(cell, fork, write, reserved).unwrap();

    assert!(
        vfs.read_now(fork, ino, 0, 100).is_none(),
        "laid a write over a snapshot it no longer fits in place"
    );
    assert!(vfs.stat_now(fork, ino).is_none());
    let read = vfs.read(fork, ino, 0, 100).await.unwrap().concat();
    assert_eq!(read, [[b'.'; 40].as_slice(), &[b'W'; 20]].concat());
}
