//! Integrity through the handle, under concurrency: a commit never breaks
//! a file the parent holds open, and never loses a write that returned.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use bytes::Bytes;
use strata::actor::{Error, FollowSymlinks, OpenOptions, VfsBuilder, VfsHandle};
use strata::fs::{CHUNK_SIZE, Limits, MemBase, OpenFlags};

use common::bounded;

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// Where the file the child deletes comes from.
#[derive(Clone, Copy, Debug)]
enum Origin {
    /// Created in the parent.
    Upper,
    /// From a lazily fetched image: the parent rewrote its first chunk, the
    /// second was never fetched.
    Image,
}

const WRITE: OpenFlags = OpenFlags {
    create: false,
    directory: false,
    exclusive: false,
    truncate: false,
};

/// Rounds of: the parent holds `f` open and writes to it in place without
/// pause, while a child that deleted `f` is committed into it. Whichever
/// comes first — the commit (then `f` is the parent's orphan) or a write
/// (then the commit conflicts) — the handle keeps working and holds the
/// last write that returned. Returns (commits applied, conflicts).
async fn race_writes_with_a_deleting_commit(
    vfs: VfsHandle,
    origin: Origin,
    rounds: u32,
) -> (u32, u32) {
    let (mut applied, mut conflicts) = (0, 0);
    for round in 0..rounds {
        let parent = vfs.root().fork().await.unwrap();
        let root = parent.open_root().await.unwrap();
        let name = match origin {
            Origin::Upper => {
                parent.write_file("f", &[0; 64]).await.unwrap();
                "f"
            }
            Origin::Image => "image",
        };
        let options = OpenOptions::new().flags(WRITE).write(true);
        let file = Arc::new(root.open_at(name, options).await.unwrap());
        if let Origin::Image = origin {
            let chunk = Bytes::from(vec![0; CHUNK_SIZE as usize]);
            file.write(0, chunk).await.unwrap();
        }
        let child = parent.fork().await.unwrap();
        let child_root = child.open_root().await.unwrap();
        child_root.unlink_file_at(name).await.unwrap();
        drop(child_root);

        let stop = Arc::new(AtomicBool::new(false));
        // Half the rounds send the commit first, half start writing first.
        let commit = (round % 2 == 0).then(|| {
            tokio::spawn({
                let child = child.clone();
                async move { child.commit().await }
            })
        });
        let writer = tokio::spawn({
            let (file, stop) = (file.clone(), stop.clone());
            async move {
                let mut last = 0u64;
                for v in 1u64.. {
                    if stop.load(SeqCst) {
                        break;
                    }
                    let data = Bytes::copy_from_slice(&v.to_le_bytes());
                    file.write(0, data)
                        .await
                        .unwrap_or_else(|e| panic!("round {round}: write {v} failed: {e}"));
                    last = v;
                    if v % 16 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                last
            }
        });
        let committed = match commit {
            Some(commit) => bounded("commit", commit).await.unwrap(),
            None => {
                for _ in 0..round % 8 {
                    tokio::task::yield_now().await;
                }
                bounded("commit", child.commit()).await
            }
        };
        match committed {
            Ok(()) => applied += 1,
            Err(Error::Conflict(_)) => {
                conflicts += 1;
                child.discard().await.unwrap();
            }
            Err(e) => panic!("round {round}: commit failed: {e}"),
        }
        stop.store(true, SeqCst);
        let last = bounded("writer", writer).await.unwrap();
        let head = file.read(0, 8).await.unwrap().concat();
        assert_eq!(
            u64::from_le_bytes(head.try_into().unwrap()),
            last,
            "round {round}: the parent's handle lost the last write that returned"
        );
        let stat = file.stat().await.unwrap();
        let named = root
            .stat_at(name, FollowSymlinks::Yes)
            .await
            .is_ok_and(|s| s.ino == file.ino());
        assert_eq!(stat.nlink, u64::from(named), "round {round}");
        drop((file, root));
        parent.discard().await.unwrap();
    }
    assert!(!vfs.is_stopped());
    (applied, conflicts)
}

fn image() -> MemBase {
    MemBase::builder()
        .file("image", vec![7u8; 2 * CHUNK_SIZE as usize])
        .build()
}

#[test]
fn a_commit_that_deletes_a_file_the_parent_writes_loses_no_write() {
    for workers in [2, 8] {
        for origin in [Origin::Upper, Origin::Image] {
            let rt = runtime(workers);
            let (applied, conflicts) = rt.block_on(async {
                let vfs = VfsBuilder::new()
                    .backend(image())
                    .limits(Limits::unlimited())
                    .spawn();
                tokio::spawn(race_writes_with_a_deleting_commit(vfs, origin, 1000))
                    .await
                    .unwrap()
            });
            eprintln!("{workers} workers, {origin:?}: {applied} applied, {conflicts} conflicts");
            // Both sides of the race were reached.
            assert!(
                applied > 0 && conflicts > 0,
                "{workers} workers, {origin:?}"
            );
        }
    }
}
