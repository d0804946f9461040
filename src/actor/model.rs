//! Model check of the protocol between handles and the actor, over the real
//! code: the actor's own `run` loop and the handle's own methods, each on a
//! thread of the model checker ([shuttle]), which runs one thread at a time
//! and switches only at the protocol's interleaving points
//! (`interleave::point`: every access to the state handles and actor share)
//! and where a thread waits for another (a reply, a request). Each test
//! explores many schedules of one scenario with shuttle's PCT scheduler,
//! which finds any bug needing up to `DEPTH` badly timed switches with a
//! known probability per schedule, and checks the promises in every one:
//!
//! - a handle an open returned works (stat, read, write) until it is
//!   dropped, whatever the others do meanwhile;
//! - nothing leaks: once every handle is gone, the fork's usage and handle
//!   count are what the history says, with every unlinked inode dropped;
//! - `Limits::max_open` holds at every moment;
//! - a write that returned is in the fork afterwards.
//!
//! The actor takes a fork's snapshot back while it changes the fork
//! (`Actor::unshare`), so these schedules also cover reads and opens that
//! find the cell empty and ask the actor instead: treating the empty cell
//! as a failed read or open fails six of the scenarios (checked).
//!
//! The schedules run here are a bounded sample (`ITERATIONS` per scenario,
//! about a second each in a debug build). For a longer run:
//! `STRATA_MODEL_ITERATIONS=200000 cargo test --lib model`.
//!
//! [shuttle]: https://docs.rs/shuttle

use std::sync::Arc;

use bytes::Bytes;
use shuttle::future::block_on;
use shuttle::thread;

use super::interleave::model::checking;
use super::{Error, FollowSymlinks, Fork, OpenFile, OpenOptions, VfsBuilder, VfsHandle};
use crate::fs::{Errno, Limits, Usage};

/// Schedules explored per scenario.
const ITERATIONS: usize = 1500;
/// Badly timed switches a bug may need to be found (PCT's depth).
const DEPTH: usize = 3;

fn iterations() -> usize {
    std::env::var("STRATA_MODEL_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ITERATIONS)
}

/// Explores `scenario` under many schedules; panics with the failing one.
fn explore(scenario: impl Fn() + Send + Sync + 'static) {
    checking(|| shuttle::check_pct(scenario, iterations(), DEPTH));
}

const DATA: &[u8] = b"the file's bytes";

/// Opens for reading / for writing.
fn reading() -> OpenOptions {
    OpenOptions::new()
}

fn writing() -> OpenOptions {
    OpenOptions::new().write(true)
}

/// A filesystem whose actor runs on its own model thread, with the file
/// `f` holding `DATA` in the root fork, and the root held open.
struct World {
    vfs: VfsHandle,
    /// The root fork's root directory.
    root: Arc<OpenFile>,
    actor: thread::JoinHandle<()>,
    /// Handles held by the scenario's main thread until the end.
    held: Vec<OpenFile>,
}

impl World {
    fn new(limits: Limits) -> World {
        let (vfs, actor) = VfsBuilder::new().limits(limits).build();
        let actor = thread::spawn(move || block_on(actor.run()));
        let root = block_on(vfs.root().open_root()).unwrap();
        block_on(vfs.root().write_file("f", DATA)).unwrap();
        World {
            root: Arc::new(root),
            held: Vec::new(),
            vfs,
            actor,
        }
    }

    /// Runs `f` on its own model thread with the root directory.
    fn spawn<T, Fut>(
        &self,
        f: impl FnOnce(Arc<OpenFile>) -> Fut + Send + 'static,
    ) -> thread::JoinHandle<T>
    where
        Fut: std::future::Future<Output = T>,
        T: Send + 'static,
    {
        let root = self.root.clone();
        thread::spawn(move || block_on(f(root)))
    }

    /// A new fork of the root fork, and its root directory.
    fn child(&self) -> (Fork, OpenFile) {
        let child = block_on(self.vfs.root().fork()).unwrap();
        let root = block_on(child.open_root()).unwrap();
        (child, root)
    }

    /// What the root fork holds once the actor has taken in every note.
    fn usage(&self) -> Usage {
        block_on(self.vfs.root().usage()).unwrap()
    }

    /// Checks that the root fork holds nothing but its root's handle: every
    /// other handle came back, every unlinked file went.
    fn assert_only_the_root_is_left(&self) {
        let usage = self.usage();
        assert_eq!((usage.bytes, usage.inodes, usage.open), (0, 0, 1), "leaked");
    }

    /// Stops the actor (every handle is gone) and waits for it.
    fn end(self) {
        let World {
            vfs,
            actor,
            held,
            root,
        } = self;
        drop(held);
        drop(root);
        drop(vfs);
        actor.join().unwrap();
    }
}

/// Reads the whole of `file` through its handle, as a guest would.
async fn read_all(file: &OpenFile) -> Result<Vec<u8>, Error> {
    let size = file.stat().await?.size;
    Ok(file.read(0, size).await?.concat())
}

/// Opens `f` under `root`; if that worked, the whole file is there behind
/// the handle. If not, it was because `f` had gone.
async fn open_and_read(root: Arc<OpenFile>) {
    match root.open_at("f", reading()).await {
        Ok(file) => {
            let data = read_all(&file).await;
            assert_eq!(data.as_deref(), Ok(DATA), "an opened file broke");
        }
        Err(e) => assert_eq!(e, Error::Errno(Errno::NoEntry)),
    }
}

/// An open on the snapshot races an unlink of its file: if it got a
/// handle, the file is whole behind it until it lets go, and the unlinked
/// file goes once it has.
#[test]
fn an_open_on_the_snapshot_keeps_its_file_through_an_unlink() {
    explore(|| {
        let world = World::new(Limits::default());
        let opener = world.spawn(open_and_read);
        let unlinker = world.spawn(|root| async move {
            root.unlink_file_at("f").await.unwrap();
        });
        opener.join().unwrap();
        unlinker.join().unwrap();
        world.assert_only_the_root_is_left();
        world.end();
    });
}

/// The parent's open races the commit of a child that deleted the file:
/// the handle keeps the file (the parent's orphan) until dropped.
#[test]
fn an_open_in_the_parent_keeps_its_file_through_a_deleting_commit() {
    explore(|| {
        let world = World::new(Limits::default());
        let (child, child_root) = world.child();
        block_on(child_root.unlink_file_at("f")).unwrap();
        drop(child_root);
        let opener = world.spawn(open_and_read);
        let committer = thread::spawn(move || block_on(child.commit()).unwrap());
        opener.join().unwrap();
        committer.join().unwrap();
        world.assert_only_the_root_is_left();
        world.end();
    });
}

/// A handle the parent holds is read and closed while a child that deleted
/// its file is committed: reads work until the close, and the file goes.
#[test]
fn a_close_racing_a_deleting_commit_leaks_nothing() {
    explore(|| {
        let world = World::new(Limits::default());
        let file = block_on(world.root.open_at("f", reading())).unwrap();
        let (child, child_root) = world.child();
        block_on(child_root.unlink_file_at("f")).unwrap();
        drop(child_root);
        let closer = thread::spawn(move || {
            block_on(async move {
                let data = read_all(&file).await;
                assert_eq!(data.as_deref(), Ok(DATA), "a held file broke");
                drop(file);
            })
        });
        let committer = thread::spawn(move || block_on(child.commit()).unwrap());
        closer.join().unwrap();
        committer.join().unwrap();
        world.assert_only_the_root_is_left();
        world.end();
    });
}

/// How the child takes the file's name away.
#[derive(Clone, Copy)]
enum Removal {
    Unlink,
    /// Another file renamed over it.
    RenameOver,
}

/// A write through the parent's handle races the commit of a child that
/// removed the file's name. The write returned, so it is in the file behind
/// the handle: before the merge (the commit then conflicts) or after it (on
/// the parent's orphan).
fn write_racing_a_removing_commit(removal: Removal) {
    explore(move || {
        let world = World::new(Limits::default());
        let file = block_on(world.root.open_at("f", writing())).unwrap();
        let (child, child_root) = world.child();
        match removal {
            Removal::Unlink => block_on(child_root.unlink_file_at("f")).unwrap(),
            Removal::RenameOver => {
                block_on(child.write_file("g", b"another")).unwrap();
                block_on(child_root.rename_at("g", &child_root, "f")).unwrap();
            }
        }
        drop(child_root);
        let writer = thread::spawn(move || {
            block_on(async move {
                let written = file.write(0, Bytes::from_static(b"NEW")).await;
                assert_eq!(written, Ok(3));
                let data = read_all(&file).await.unwrap();
                assert_eq!(&data[..3], b"NEW", "a write that returned is lost");
                file
            })
        });
        let committer = {
            let child = child.clone();
            thread::spawn(move || block_on(child.commit()))
        };
        let file = writer.join().unwrap();
        let committed = committer.join().unwrap();
        let data = block_on(read_all(&file)).unwrap();
        assert_eq!(&data[..3], b"NEW", "a write that returned is lost");
        let named = block_on(world.root.stat_at("f", FollowSymlinks::Yes)).map(|s| s.ino);
        match committed {
            Ok(()) => assert_ne!(named, Ok(file.ino())),
            Err(Error::Conflict(_)) => {
                assert_eq!(named, Ok(file.ino()));
                block_on(child.discard()).unwrap();
            }
            Err(e) => panic!("commit failed: {e}"),
        }
        drop((file, child));
        let usage = world.usage();
        assert_eq!(usage.open, 1, "leaked a handle");
        world.end();
    });
}

#[test]
fn a_write_racing_a_commit_that_unlinks_its_file_is_never_lost() {
    write_racing_a_removing_commit(Removal::Unlink);
}

#[test]
fn a_write_racing_a_commit_that_renames_over_its_file_is_never_lost() {
    write_racing_a_removing_commit(Removal::RenameOver);
}

/// A write past the end races a truncate of the same file: the file ends
/// as one order or the other leaves it, never a mix.
#[test]
fn a_write_racing_a_truncate_lands_in_one_order() {
    explore(|| {
        let world = World::new(Limits::default());
        let file = Arc::new(block_on(world.root.open_at("f", writing())).unwrap());
        let writer = {
            let file = file.clone();
            thread::spawn(move || {
                let at = DATA.len() as u64 - 2;
                let written = block_on(file.write(at, Bytes::from_static(b"WXYZ")));
                assert_eq!(written, Ok(4));
            })
        };
        let truncater = {
            let file = file.clone();
            thread::spawn(move || block_on(file.set_size(4)).unwrap())
        };
        writer.join().unwrap();
        truncater.join().unwrap();
        let data = block_on(read_all(&file)).unwrap();
        let write_first = b"the ".to_vec();
        let mut truncate_first = b"the ".to_vec();
        truncate_first.resize(DATA.len() - 2, 0);
        truncate_first.extend_from_slice(b"WXYZ");
        assert!(
            data == write_first || data == truncate_first,
            "not a state either order leaves: {data:?}"
        );
        drop(file);
        world.end();
    });
}

/// A fork is discarded while handles on it are closed and opened: nothing
/// panics, the parent keeps its count, and the actor serves on.
#[test]
fn a_discard_racing_opens_and_closes_on_the_fork_is_harmless() {
    explore(|| {
        let world = World::new(Limits::default());
        let (child, child_root) = world.child();
        let held = block_on(child_root.open_at("f", reading())).unwrap();
        let user = thread::spawn(move || {
            block_on(async move {
                drop(held);
                match child_root.open_at("f", reading()).await {
                    // A handle on a fork discarded meanwhile fails cleanly.
                    Ok(file) => match read_all(&file).await {
                        Ok(data) => assert_eq!(data, DATA),
                        Err(e) => assert_eq!(e, Error::Errno(Errno::BadDescriptor)),
                    },
                    Err(e) => assert_eq!(e, Error::Errno(Errno::BadDescriptor)),
                }
            })
        });
        let discarder = thread::spawn(move || block_on(child.discard()).unwrap());
        user.join().unwrap();
        discarder.join().unwrap();
        let usage = world.usage();
        assert_eq!((usage.bytes, usage.open), (DATA.len() as u64, 1), "leaked");
        assert_eq!(block_on(world.vfs.root().fork()).map(|_| ()), Ok(()));
        world.end();
    });
}

/// Two opens race for the last handle `Limits::max_open` allows, one on
/// the snapshot and one through the actor (it creates): never both.
#[test]
fn the_open_limit_holds_under_racing_opens() {
    explore(|| {
        let limits = Limits {
            max_open: 3,
            ..Limits::default()
        };
        let mut world = World::new(limits);
        // The root and this one: one handle left.
        let taken = block_on(world.root.open_at("f", reading()));
        world.held.push(taken.unwrap());
        let held = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let open = |path: &'static str, options: OpenOptions| {
            let held = held.clone();
            world.spawn(move |root| async move {
                let Ok(file) = root.open_at(path, options).await else {
                    return;
                };
                let now = held.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                assert!(now <= 1, "more handles than max_open");
                thread::yield_now();
                held.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                drop(file);
            })
        };
        let a = open("f", writing());
        let b = open("g", writing().create(true));
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(world.usage().open, 2, "leaked a handle");
        world.end();
    });
}

/// Liveness of the sweep: an unlink leaves a file nobody holds while
/// another open is in flight, so the actor must wait before dropping it;
/// that open, settling, wakes it. The file must go without anyone making
/// another request — here the main thread only watches the published
/// snapshot. Explored with shuttle's random scheduler (a thread spinning on
/// a condition would starve the others under PCT's fixed priorities); a
/// lost wake-up leaves the watcher spinning past the step bound.
#[test]
fn an_open_settling_wakes_the_actor_waiting_to_drop_a_file() {
    let mut config = shuttle::Config::new();
    config.max_steps = shuttle::MaxSteps::FailAfter(100_000);
    let scheduler = shuttle::scheduler::RandomScheduler::new(iterations());
    let runner = shuttle::Runner::new(scheduler, config);
    checking(|| {
        runner.run(|| {
            let world = World::new(Limits::default());
            block_on(world.vfs.root().write_file("g", DATA)).unwrap();
            let opener =
                world.spawn(|root| async move { root.open_at("g", reading()).await.unwrap() });
            let unlinker = world.spawn(|root| async move {
                root.unlink_file_at("f").await.unwrap();
            });
            unlinker.join().unwrap();
            let held = opener.join().unwrap();
            let root_fork = world.vfs.root();
            // `None` while the actor has the snapshot back to change the fork.
            let bytes = || {
                root_fork
                    .read_snapshot(|r| Ok(r.usage().bytes))
                    .map(Result::unwrap)
            };
            while bytes() != Some(DATA.len() as u64) {
                thread::yield_now();
            }
            drop(held);
            drop(root_fork);
            world.end();
        })
    });
}
