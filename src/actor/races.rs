//! Races between a handle and the actor, replayed one step at a time: the
//! handle's half of a write behind is split where the actor may run in
//! between, and the actor is let run exactly there. Stress tests
//! (`tests/write_behind.rs`) can reach these windows only by luck.

use bytes::Bytes;

use super::VfsBuilder;
use crate::fs::{BatchWrite, ForkId, OpenFlags, Timestamp};

/// A write judged in place just before a shrink, but queued only after the
/// actor ran the shrink, runs after it and grows the file back. Laid over
/// the shrunk snapshot (and clipped to it) it would show a state the file
/// never has, so a reader must ask the actor.
#[tokio::test]
async fn a_write_queued_after_a_shrink_is_not_laid_over_it() {
    let vfs = VfsBuilder::new().spawn();
    let fork = ForkId::ROOT;
    let root = vfs.open_root(fork).await.unwrap();
    let create = OpenFlags {
        create: true,
        ..OpenFlags::default()
    };
    let file = vfs
        .open_at(fork, root.ino(), "f", true, create, true)
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
