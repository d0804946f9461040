//! Faults: a backend that fails (`EIO`), panics, or never answers, and a
//! storm of callers giving up mid-request. Each must leave the actor
//! serving everyone else, lose nothing that was acknowledged, and leak
//! nothing: no handle, no parked request, no fetch still running.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use strata::actor::{Backend, Error, FollowSymlinks, Fork, OpenFile, OpenOptions, VfsBuilder};
use strata::fs::{Errno, Ino, Loaded, MemBase, Need, answer_from};

use common::{bounded, create};

/// What the faulty backend does when asked for the bad file's data.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Fails,
    /// Panics in the future it returns (on the fetch's own task).
    Panics,
    /// Panics before returning a future (on the actor).
    PanicsStarting,
    NeverAnswers,
}

/// An image with good files and one bad one, whose data the backend will
/// not deliver. Counts the fetches alive (started, not yet dropped).
struct Faulty {
    image: MemBase,
    bad: Ino,
    fault: Fault,
    alive: Arc<AtomicUsize>,
}

/// Counts a fetch alive until its future is dropped (finished or aborted).
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

impl Backend for Faulty {
    fn root(&self) -> Ino {
        strata::fs::Base::root(&self.image)
    }

    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>> {
        self.alive.fetch_add(1, SeqCst);
        let alive = Alive(self.alive.clone());
        let answer = answer_from(&self.image, need);
        let bad = matches!(need, Need::Chunk(ino, _) if *ino == self.bad);
        let fault = self.fault;
        if bad && matches!(fault, Fault::PanicsStarting) {
            panic!("backend bug, before the fetch");
        }
        async move {
            let _alive = alive;
            tokio::task::yield_now().await;
            match (bad, fault) {
                (false, _) => answer,
                (true, Fault::Fails) => Err(Errno::Io),
                (true, Fault::Panics | Fault::PanicsStarting) => panic!("backend bug"),
                (true, Fault::NeverAnswers) => futures::future::pending().await,
            }
        }
        .boxed()
    }
}

fn image() -> MemBase {
    let mut b = MemBase::builder().file("bad", &b"never delivered"[..]);
    for i in 0..8 {
        b = b.file(&format!("good{i}"), format!("good file {i}").into_bytes());
    }
    b.build()
}

/// Long enough that the others, served meanwhile, are done well before it
/// (no test here measures speed: this only orders the two).
const DEADLINE: Duration = Duration::from_secs(3);

/// Runs the fault's scenario: callers reading the bad file fail with `Io`;
/// meanwhile other callers read good files and make writes, all of which
/// succeed; afterwards every acknowledged write is there, and nothing is
/// held, parked or fetching.
async fn faulty_backend_scenario(fault: Fault) {
    let alive = Arc::new(AtomicUsize::new(0));
    let image = image();
    let bad = image.resolve("bad").unwrap();
    let vfs = VfsBuilder::new()
        .backend(Faulty {
            image,
            bad,
            fault,
            alive: alive.clone(),
        })
        .deadline(DEADLINE)
        .spawn();
    let fork = vfs.root().fork().await.unwrap();
    let root = fork.open_root().await.unwrap();
    let bad_readers: Vec<_> = (0..4)
        .map(|_| {
            let fork = fork.clone();
            tokio::spawn(async move { fork.read_file("bad").await })
        })
        .collect();
    // Everyone else is served meanwhile — while the bad readers still wait,
    // when the backend never answers the bad file.
    let served = bounded("the others", async {
        let mut acknowledged = Vec::new();
        for i in 0..8 {
            let good = fork.read_file(&format!("good{i}")).await.unwrap();
            assert_eq!(good, format!("good file {i}").into_bytes());
            let name = format!("written{i}");
            fork.write_file(&name, name.as_bytes()).await.unwrap();
            acknowledged.push(name);
        }
        acknowledged
    });
    let acknowledged = served.await;
    if let Fault::NeverAnswers = fault {
        assert!(
            bad_readers.iter().all(|r| !r.is_finished()),
            "the others waited for the stuck fetch"
        );
    }
    for reader in bad_readers {
        let read = bounded("a bad read", reader).await.unwrap();
        assert_eq!(read, Err(Error::Errno(Errno::Io)), "{fault:?}");
    }
    // Nothing acknowledged is lost.
    for name in &acknowledged {
        assert_eq!(fork.read_file(name).await.unwrap(), name.as_bytes());
    }
    // Nothing leaks: handles, and fetches (a stuck one was dropped at its
    // deadline), and the actor still fetches for the next caller.
    assert_eq!(fork.usage().await.unwrap().open, 1);
    bounded("fetches to end", async {
        while alive.load(SeqCst) != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(vfs.root().read_file("good7").await.unwrap(), b"good file 7");
    assert_eq!(fork.read_file("bad").await, Err(Error::Errno(Errno::Io)));
    drop(root);
    assert!(!vfs.is_stopped());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_fails_fails_only_its_callers() {
    faulty_backend_scenario(Fault::Fails).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_panics_fails_only_its_callers() {
    faulty_backend_scenario(Fault::Panics).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_panics_starting_a_fetch_fails_only_its_callers() {
    faulty_backend_scenario(Fault::PanicsStarting).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_never_answers_fails_only_its_callers_at_the_deadline() {
    faulty_backend_scenario(Fault::NeverAnswers).await;
}

/// Many callers give up mid-request — while queued, while parked on a
/// fetch, after the actor ran the call but before the answer arrived —
/// and their calls are dropped. Every write that returned is there, every
/// file is whole, and once the dust settles no handle is held and no
/// unlinked file is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_cancelled_calls_leaks_nothing_and_loses_nothing() {
    let alive = Arc::new(AtomicUsize::new(0));
    let image = image();
    let bad = image.resolve("bad").unwrap();
    let vfs = VfsBuilder::new()
        .backend(Faulty {
            image,
            bad,
            fault: Fault::Fails,
            alive: alive.clone(),
        })
        .spawn();
    let fork = vfs.root().fork().await.unwrap();
    let held_root = Arc::new(fork.open_root().await.unwrap());
    let clients: Vec<_> = (0..16u64)
        .map(|c| {
            let (fork, root) = (fork.clone(), held_root.clone());
            tokio::spawn(async move { storm_client(fork, root, c).await })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(bounded("a client", client).await.unwrap());
    }
    for (name, data) in &acknowledged {
        let now = fork.read_file(name).await.unwrap();
        assert_eq!(&now, data, "{name}: an acknowledged write was lost");
    }
    // Releases of cancelled opens travel as notes; a request reads them.
    bounded("handles to come back", async {
        loop {
            let usage = fork.usage().await.unwrap();
            if usage.open == 1 {
                break usage;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    // Every unlinked file went with its last handle: what the fork holds is
    // exactly the files still named.
    let mut named = 0;
    for entry in held_root.read_dir(None, usize::MAX).await.unwrap() {
        if !entry.ino.is_base() {
            let stat = held_root.stat_at(&entry.name, FollowSymlinks::No);
            named += stat.await.unwrap().size;
        }
    }
    assert_eq!(
        fork.usage().await.unwrap().bytes,
        named,
        "unlinked files kept"
    );
    assert!(!vfs.is_stopped());
    drop(held_root);
}

/// Polls `call` at most `polls` times, yielding in between (so the actor
/// may run it meanwhile, on this worker or another), then gives up on it.
async fn within_polls<F: std::future::Future>(polls: usize, call: F) -> Option<F::Output> {
    let mut call = std::pin::pin!(call);
    for _ in 0..polls {
        if let std::task::Poll::Ready(done) = futures::poll!(call.as_mut()) {
            return Some(done);
        }
        tokio::task::yield_now().await;
    }
    None
}

/// One client of the storm: each call is given up after a different number
/// of polls or a different delay, so some are dropped before they are
/// sent, some while queued or parked, some after the actor ran them and
/// before their answer arrived. Returns the writes that were acknowledged
/// and not overwritten since.
async fn storm_client(fork: Fork, root: Arc<OpenFile>, c: u64) -> Vec<(String, Vec<u8>)> {
    let mut acknowledged = Vec::new();
    for i in 0..40u64 {
        let name = format!("c{c}-{}", i % 4);
        let data = format!("client {c} round {i}").into_bytes();
        let patience = Duration::from_micros((c * 7 + i * 13) % 50);
        let call = async {
            match i % 5 {
                0 => {
                    let file = root.open_at(&name, create()).await?;
                    file.write(0, Bytes::from(data.clone())).await?;
                    file.set_size(data.len() as u64).await?;
                    Ok::<_, Error>(true)
                }
                1 => fork.read_file("bad").await.map(|_| false),
                2 => {
                    let good = format!("good{}", i % 8);
                    let open = root.open_at(&good, OpenOptions::new());
                    open.await.map(|_| false)
                }
                3 => root.unlink_file_at(&name).await.map(|_| false),
                _ => {
                    let held = root.open_at(&name, OpenOptions::new());
                    let held = held.await?;
                    root.unlink_file_at(&name).await?;
                    let _ = held.read(0, 64).await?;
                    Ok(false)
                }
            }
        };
        let outcome = match i % 3 {
            0 => Ok(call.await),
            1 => tokio::time::timeout(patience, call).await.map_err(drop),
            _ => within_polls(((c + i) % 6) as usize, call).await.ok_or(()),
        };
        // Track what the file must hold: a finished write, or nothing known.
        acknowledged.retain(|(n, _)| n != &name);
        if let Ok(Ok(true)) = outcome {
            acknowledged.push((name, data));
        }
    }
    acknowledged
}

/// An embedder's image whose lookup of one name panics (a bug in it).
struct PanicsOn(MemBase, &'static str);

impl strata::fs::Base for PanicsOn {
    fn root(&self) -> Ino {
        strata::fs::Base::root(&self.0)
    }
    fn node(&self, ino: Ino) -> strata::fs::Result<Arc<strata::fs::BaseNode>> {
        self.0.node(ino)
    }
    fn lookup(&self, dir: Ino, name: &str) -> strata::fs::Result<Option<strata::fs::DirEntry>> {
        assert_ne!(name, self.1, "image bug");
        self.0.lookup(dir, name)
    }
    fn list(&self, dir: Ino) -> strata::fs::Result<Arc<[strata::fs::DirEntry]>> {
        self.0.list(dir)
    }
    fn chunk(&self, file: Ino, index: u64) -> strata::fs::Result<Bytes> {
        self.0.chunk(file, index)
    }
}

/// An open on the snapshot runs the image's code on the caller's thread;
/// when that panics, the caller's task unwinds — and must leave nothing
/// behind: no open counted in flight (the actor would never drop an
/// unlinked file again), no handle taken from the fork's count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_an_open_on_the_snapshot_leaves_nothing_in_flight() {
    let limits = strata::fs::Limits {
        max_open: 3,
        ..strata::fs::Limits::default()
    };
    let vfs = VfsBuilder::new()
        .image(PanicsOn(MemBase::empty(), "boom"))
        .limits(limits)
        .spawn();
    let fork = vfs.root();
    let root = Arc::new(fork.open_root().await.unwrap());
    for _ in 0..2 {
        let r = root.clone();
        let open = tokio::spawn(async move { r.open_at("boom", OpenOptions::new()).await });
        assert!(open.await.is_err(), "the image's panic unwound the caller");
    }
    // Unlinked files still go with their last handle...
    fork.write_file("a", &[7; 100_000]).await.unwrap();
    root.unlink_file_at("a").await.unwrap();
    assert_eq!(
        fork.usage().await.unwrap().bytes,
        0,
        "an unlinked file was kept"
    );
    // ...and the two handles the panicking opens took came back.
    let a = root.open_at("x", create()).await.unwrap();
    let b = root.open_at("x", OpenOptions::new()).await;
    assert!(b.is_ok(), "handles leaked: {b:?}");
    drop((a, b, root));
}

/// A clock that panics while armed (an embedder's `Clock` with a bug).
struct PanickyClock(std::sync::atomic::AtomicBool);

impl strata::fs::Clock for PanickyClock {
    fn now(&self) -> strata::fs::Timestamp {
        assert!(!self.0.load(SeqCst), "clock bug");
        strata::fs::SystemClock.now()
    }
}

/// A panic inside an open the actor runs fails it with `Io` and gives back
/// the handle the actor took for it from the fork's count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_an_open_on_the_actor_gives_its_handle_back() {
    let clock = Arc::new(PanickyClock(std::sync::atomic::AtomicBool::new(false)));
    let limits = strata::fs::Limits {
        max_open: 4,
        ..strata::fs::Limits::default()
    };
    let vfs = VfsBuilder::new()
        .limits(limits)
        .clock(clock.clone())
        .spawn();
    let fork = vfs.root();
    let root = fork.open_root().await.unwrap();
    fork.write_file("f", b"x").await.unwrap();
    clock.0.store(true, SeqCst);
    for i in 0..3 {
        let name = format!("new{i}");
        let created = root.open_at(&name, create());
        assert_eq!(created.await.err(), Some(Error::Errno(Errno::Io)));
    }
    clock.0.store(false, SeqCst);
    assert_eq!(fork.usage().await.unwrap().open, 1);
    let open = root.open_at("f", OpenOptions::new());
    assert!(open.await.is_ok(), "handles leaked");
}

/// A backend that delivers chunks shorter than the file's size says.
struct ShortChunks(MemBase);

impl Backend for ShortChunks {
    fn root(&self) -> Ino {
        strata::fs::Base::root(&self.0)
    }
    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>> {
        let mut answer = answer_from(&self.0, need);
        if let Ok(loaded) = &mut answer {
            for chunk in &mut loaded.chunks {
                chunk.2 = chunk.2.slice(..chunk.2.len() / 2);
            }
        }
        futures::future::ready(answer).boxed()
    }
}

/// Data a backend promised and did not deliver is an error for every read
/// of it, on the actor and on the snapshot alike — not a panic in the
/// reader's task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_data_from_a_backend_is_an_io_error_for_every_read() {
    let image = MemBase::builder().file("f", &b"0123456789"[..]).build();
    let vfs = VfsBuilder::new().backend(ShortChunks(image)).spawn();
    let root = vfs.root().open_root().await.unwrap();
    let f = root.open_at("f", OpenOptions::new());
    let file = Arc::new(f.await.unwrap());
    for _ in 0..2 {
        let f = file.clone();
        let read = tokio::spawn(async move { f.read(0, 10).await });
        let read = read.await.expect("a read panicked");
        assert_eq!(read, Err(Error::Errno(Errno::Io)));
    }
    assert!(!vfs.is_stopped());
}

/// A host file that shrinks under `HostDir` after its size was read: reads
/// see the file as the host has it, or fail; none panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_file_shrinking_under_hostdir_panics_no_reader() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), vec![b'x'; 100]).unwrap();
    let vfs = VfsBuilder::new()
        .backend(strata::actor::HostDir::new(dir.path()).unwrap())
        .spawn();
    let root = vfs.root().open_root().await.unwrap();
    let f = root.open_at("f", OpenOptions::new());
    let file = Arc::new(f.await.unwrap());
    assert_eq!(file.stat().await.unwrap().size, 100);
    std::fs::write(dir.path().join("f"), vec![b'y'; 10]).unwrap();
    for _ in 0..2 {
        let f = file.clone();
        let read = tokio::spawn(async move { f.read(0, 100).await });
        match read.await.expect("a read panicked") {
            Ok(data) => assert_eq!(data.concat(), vec![b'y'; 10]),
            Err(e) => assert_eq!(e, Error::Errno(Errno::Io)),
        }
    }
    assert!(!vfs.is_stopped());
}
