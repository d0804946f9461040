//! Writes behind still on their way: answered, queued for the actor, and
//! not yet in a published snapshot — kept where every handle can read them,
//! so that a reader lays them over the snapshot instead of waiting for the
//! actor to run them.
//!
//! Waiting was the costly part of writing behind: about one read in ten
//! found a write to its file queued and had to wake the actor (and, from
//! there, often the idle worker) and wait for the round trip.
//!
//! The writes are hashed by (fork, inode) into stripes, each a short list
//! under its own lock (held for a push or a copy, never across an await).
//! A stripe's length is also kept outside its lock: readers of a file with
//! nothing queued — nearly all — read only that. A write is queued for the
//! actor *under* its stripe's lock, so the actor runs the writes to one file
//! in the order readers lay them. The actor marks each write with the
//! generation of the fork's first snapshot that will hold it before it
//! publishes that snapshot, and removes it only after: a reader that loaded
//! the snapshot *before* copying the list can tell which writes it already
//! holds. Why the result is a state the file really passes through is told
//! in `shared` (the reader's checks are `ForkCell::still_latest`).
//!
//! Why locks and not a lock-free map: the lists are short, the locks are
//! striped and held for nanoseconds, and only a lock makes "queued for the
//! actor and for readers" one step, which the ordering above needs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::fs::{BatchWrite, ForkId, Ino, Stat};

/// Stripes per actor; a collision only makes a reader copy writes to
/// another file and skip them.
const STRIPES: usize = 1024;

/// Most writes a reader lays over the snapshot. Past that (a guest
/// rewriting one block in a loop) the round trip, which runs them all once,
/// is cheaper than laying them all over every read.
const MOST_LAID: usize = 32;

pub(crate) struct QueuedWrites {
    stripes: Box<[Stripe]>,
}

/// One stripe, on its own cache line: writers of different files should not
/// contend.
#[repr(align(64))]
#[derive(Default)]
struct Stripe {
    /// How many writes `list` holds, readable without the lock.
    len: AtomicU32,
    list: Mutex<List>,
}

#[derive(Default)]
struct List {
    next_id: u64,
    /// Oldest first, so ids ascend; the actor removes them mostly from the
    /// front.
    writes: VecDeque<Queued>,
}

impl List {
    fn find(&self, id: u64) -> Option<usize> {
        self.writes.binary_search_by_key(&id, |w| w.id).ok()
    }
}

struct Queued {
    id: u64,
    fork: ForkId,
    write: BatchWrite,
    /// The generation of the fork's first snapshot to hold it, once the
    /// actor ran it.
    held_from: Option<u64>,
}

impl QueuedWrites {
    pub fn new() -> QueuedWrites {
        QueuedWrites {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }

    fn stripe(&self, fork: ForkId, ino: Ino) -> &Stripe {
        let key = (fork.0.rotate_left(32) ^ ino.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &self.stripes[(key >> 54) as usize % STRIPES]
    }

    /// Whether writes to `ino` may be queued (or queued a moment ago: the
    /// actor removes a write only after publishing it).
    pub fn may_have(&self, fork: ForkId, ino: Ino) -> bool {
        self.stripe(fork, ino).len.load(SeqCst) != 0
    }

    /// Queues a write: `send` hands it to the actor under an id, and only if
    /// that succeeds is it kept here (both under the stripe's lock).
    pub fn add<E>(
        &self,
        fork: ForkId,
        write: &BatchWrite,
        send: impl FnOnce(u64) -> Result<(), E>,
    ) -> Result<(), E> {
        let stripe = self.stripe(fork, write.ino);
        let mut list = lock(&stripe.list);
        let id = list.next_id;
        send(id)?;
        list.next_id += 1;
        list.writes.push_back(Queued {
            id,
            fork,
            write: write.clone(),
            held_from: None,
        });
        stripe.len.fetch_add(1, SeqCst);
        Ok(())
    }

    /// The writes to `ino` that the fork's snapshot of `generation` lacks,
    /// oldest first; `None` if there are too many to lay over a read. Load
    /// that snapshot *before* calling this.
    pub fn missing_from(&self, fork: ForkId, ino: Ino, generation: u64) -> Option<Vec<BatchWrite>> {
        let list = lock(&self.stripe(fork, ino).list);
        let mut missing = Vec::new();
        let writes = list
            .writes
            .iter()
            .filter(|w| w.fork == fork && w.write.ino == ino)
            .filter(|w| w.held_from.is_none_or(|held| held > generation));
        for w in writes {
            if missing.len() == MOST_LAID {
                return None;
            }
            missing.push(w.write.clone());
        }
        Some(missing)
    }

    /// The actor ran write `id`: the fork's snapshot of `generation` is the
    /// first to hold it. Call before publishing that snapshot.
    pub fn ran(&self, fork: ForkId, ino: Ino, id: u64, generation: u64) {
        let mut list = lock(&self.stripe(fork, ino).list);
        if let Some(at) = list.find(id) {
            list.writes[at].held_from = Some(generation);
        }
    }

    /// Write `id` is published (or its fork is gone): forget it.
    pub fn published(&self, fork: ForkId, ino: Ino, id: u64) {
        let stripe = self.stripe(fork, ino);
        let mut list = lock(&stripe.list);
        if let Some(at) = list.find(id) {
            list.writes.remove(at);
            stripe.len.fetch_sub(1, SeqCst);
        }
    }
}

/// A stripe's list. Nothing panics while holding one, but if something did,
/// the list would still be whole: every change to it is a single step.
fn lock(list: &Mutex<List>) -> MutexGuard<'_, List> {
    list.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `chunks`, the bytes of a file from offset `at`, with `writes` laid over
/// them in order (each clipped to the chunks' range).
pub(crate) fn overlay(chunks: Vec<Bytes>, at: u64, writes: &[BatchWrite]) -> Vec<Bytes> {
    let mut chunks = chunks;
    for write in writes {
        let end = at + chunks.iter().map(|c| c.len() as u64).sum::<u64>();
        let (from, to) = (
            write.offset.max(at),
            (write.offset + write.data.len() as u64).min(end),
        );
        if from >= to {
            continue;
        }
        let mut laid = Vec::with_capacity(chunks.len() + 2);
        let mut pos = at;
        for chunk in chunks {
            let (start, stop) = (pos, pos + chunk.len() as u64);
            pos = stop;
            if start < from {
                laid.push(chunk.slice(..(from.min(stop) - start) as usize));
            }
            if start < to && from < stop && start <= from {
                let skip = (from - write.offset) as usize;
                laid.push(write.data.slice(skip..skip + (to - from) as usize));
            }
            if stop > to {
                laid.push(chunk.slice((to.max(start) - start) as usize..));
            }
        }
        laid.retain(|c| !c.is_empty());
        chunks = laid;
    }
    chunks
}

/// `stat` of a file with `writes` laid over it, in order: they overwrite in
/// place, so only the times move, to the last one's.
pub(crate) fn stat_after(stat: Stat, writes: &[BatchWrite]) -> Stat {
    match writes.last() {
        Some(last) => stat.overwritten_at(last.at),
        None => stat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::Timestamp;

    fn laid(chunks: &[&[u8]], at: u64, writes: &[(u64, &[u8])]) -> Vec<u8> {
        let chunks = chunks.iter().map(|c| Bytes::copy_from_slice(c)).collect();
        let writes: Vec<_> = writes
            .iter()
            .map(|(offset, data)| BatchWrite {
                ino: Ino(1),
                offset: *offset,
                data: Bytes::copy_from_slice(data),
                at: Timestamp::from_nanos(0),
            })
            .collect();
        overlay(chunks, at, &writes).concat()
    }

    #[test]
    fn overlay_lays_writes_in_order_and_clips_them_to_the_range() {
        // Within one chunk, across chunks, over the start and the end.
        assert_eq!(laid(&[b"abcdef"], 0, &[(2, b"XY")]), b"abXYef");
        assert_eq!(laid(&[b"abc", b"def"], 10, &[(11, b"XYZW")]), b"aXYZWf");
        assert_eq!(laid(&[b"abc", b"def"], 10, &[(8, b"1234")]), b"34cdef");
        assert_eq!(laid(&[b"abc", b"def"], 10, &[(15, b"123")]), b"abcde1");
        // Outside the range: nothing.
        assert_eq!(laid(&[b"abc"], 10, &[(0, b"zz"), (13, b"zz")]), b"abc");
        // Later writes win where they overlap.
        assert_eq!(
            laid(&[b"abcdef"], 0, &[(0, b"111111"), (2, b"22")]),
            b"112211"
        );
        assert_eq!(
            laid(&[b"ab", b"cd", b"ef"], 0, &[(1, b"2222"), (0, b"1")]),
            b"12222f"
        );
        assert!(laid(&[], 0, &[(0, b"x")]).is_empty());
    }

    #[test]
    fn a_reader_sees_a_write_until_the_snapshot_it_loaded_holds_it() {
        let queued = QueuedWrites::new();
        let (fork, ino) = (ForkId(3), Ino(7));
        assert!(!queued.may_have(fork, ino));
        let mut ids = Vec::new();
        let write = |data: &'static [u8]| BatchWrite {
            ino,
            offset: 0,
            data: Bytes::from_static(data),
            at: Timestamp::from_nanos(0),
        };
        for data in [&b"one"[..], b"two"] {
            let sent = queued.add(fork, &write(data), |id| {
                ids.push(id);
                Ok::<(), ()>(())
            });
            sent.unwrap();
        }
        // A refused send keeps nothing.
        assert!(queued.add(fork, &write(b"3"), |_| Err("gone")).is_err());
        assert!(queued.may_have(fork, ino));
        let data = |ws: Option<Vec<BatchWrite>>| {
            ws.unwrap().into_iter().map(|w| w.data).collect::<Vec<_>>()
        };
        assert!(data(queued.missing_from(fork, Ino(8), 0)).is_empty());
        assert!(data(queued.missing_from(ForkId(4), ino, 0)).is_empty());
        assert_eq!(data(queued.missing_from(fork, ino, 5)), ["one", "two"]);
        queued.ran(fork, ino, ids[0], 6);
        assert_eq!(data(queued.missing_from(fork, ino, 5)), ["one", "two"]);
        assert_eq!(data(queued.missing_from(fork, ino, 6)), ["two"]);
        queued.published(fork, ino, ids[0]);
        queued.published(fork, ino, ids[1]);
        assert!(!queued.may_have(fork, ino));
        assert!(data(queued.missing_from(fork, ino, 0)).is_empty());

        // Too many to lay over: the reader must ask the actor.
        for _ in 0..=MOST_LAID {
            queued
                .add(fork, &write(b"x"), |_| Ok::<(), ()>(()))
                .unwrap();
        }
        assert!(queued.missing_from(fork, ino, 0).is_none());
    }
}
