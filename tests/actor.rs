//! The actor under concurrency, shutdown, crashes, cancellation and slow
//! backends. No test here measures speed; timeouts only turn a hang into a
//! failure.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{CREATE, bounded, create, file_with};
use futures::future::{BoxFuture, FutureExt};
use strata::actor::baseline::{self, Client, SnapshotMutexVfs, StdMutexVfs, TokioMutexVfs};
use strata::actor::{Backend, Delayed, Error, HostDir, OpenOptions, VfsBuilder, VfsHandle};
use strata::fs::{
    Base, BaseNode, DirEntry, Errno, ForkId, Ino, Kind, Limits, Loaded, MemBase, Need, OpenFlags,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_hammering_one_actor_end_consistent() {
    let vfs = VfsBuilder::new().spawn();
    let fork = vfs.root();
    let root = fork.open_root().await.unwrap();
    root.create_dir_at("shared").await.unwrap();
    let log = root.open_at("shared/log", create()).await.unwrap();
    let (root, log) = (Arc::new(root), Arc::new(log));
    let (tasks, rounds) = (64, 50);
    let mut joins = Vec::new();
    for t in 0..tasks {
        let (root, log) = (root.clone(), log.clone());
        joins.push(tokio::spawn(async move {
            root.create_dir_at(&format!("t{t}")).await.unwrap();
            for r in 0..rounds {
                let f = root.open_at(&format!("t{t}/f{r}"), create()).await.unwrap();
                let data = Bytes::from(format!("task {t} round {r}"));
                f.write(0, data.clone()).await.unwrap();
                // Read-your-writes through the published snapshot.
                assert_eq!(f.read(0, 100).await.unwrap().concat(), data);
                log.append(Bytes::from_static(b"x")).await.unwrap();
                if r % 2 == 1 {
                    root.unlink_file_at(&format!("t{t}/f{}", r - 1))
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for j in joins {
        bounded("a client task", j).await.unwrap();
    }
    assert_eq!(log.stat().await.unwrap().size, tasks * rounds);
    for t in 0..tasks {
        let dir = root
            .open_at(&format!("t{t}"), OpenOptions::new())
            .await
            .unwrap();
        let names: Vec<String> = dir
            .read_dir(None, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name.to_string())
            .collect();
        let want: Vec<String> = (0..rounds)
            .filter(|r| r % 2 == 1)
            .map(|r| format!("f{r}"))
            .collect();
        let mut names_sorted = names.clone();
        names_sorted.sort();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(names_sorted, want_sorted, "task {t}");
        for r in (0..rounds).filter(|r| r % 2 == 1) {
            let got = fork.read_file(&format!("t{t}/f{r}")).await.unwrap();
            assert_eq!(got, format!("task {t} round {r}").into_bytes());
        }
    }
}

#[tokio::test]
async fn calls_after_shutdown_fail_at_once() {
    let vfs = VfsBuilder::new().spawn();
    let root = vfs.root().open_root().await.unwrap();
    let other = vfs.clone();
    bounded("shutdown", vfs.shutdown()).await;
    assert!(other.is_stopped());
    assert_eq!(bounded("stat", root.stat()).await, Err(Error::Stopped));
    assert_eq!(
        bounded("fork", other.root().fork()).await,
        Err(Error::Stopped)
    );
    assert_eq!(
        bounded("write_file", other.root().write_file("x", b"y")).await,
        Err(Error::Stopped)
    );
    assert_eq!(other.root().snapshot().await.unwrap_err(), Error::Stopped);
    // A second shutdown is harmless.
    bounded("shutdown again", other.shutdown()).await;
    // The `OpenFile` outliving the actor drops quietly.
    drop(root);
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_actor() {
    // The actor's filesystem holds the clock: once the actor has stopped
    // and dropped its filesystem, only the test's `Arc` is left. An open
    // file holds a handle too: the last handles are `vfs` and `root`. (An
    // `OpenFile` outliving the actor, which takes a shutdown now, is
    // dropped in `calls_after_shutdown_fail_at_once`.)
    let clock = Arc::new(strata::fs::ManualClock::default());
    let vfs = VfsBuilder::new().clock(clock.clone()).spawn();
    let root = vfs.root().open_root().await.unwrap();
    assert_eq!(Arc::strong_count(&clock), 2);
    drop(vfs);
    drop(root);
    bounded("the actor stopping", async {
        while Arc::strong_count(&clock) > 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// An embedder's image that panics when asked for one name.
struct PanicsOn(MemBase, &'static str);

impl Base for PanicsOn {
    fn root(&self) -> Ino {
        Base::root(&self.0)
    }
    fn node(&self, ino: Ino) -> strata::fs::Result<Arc<BaseNode>> {
        self.0.node(ino)
    }
    fn lookup(&self, dir: Ino, name: &str) -> strata::fs::Result<Option<DirEntry>> {
        assert_ne!(name, self.1, "image bug");
        self.0.lookup(dir, name)
    }
    fn list(&self, dir: Ino) -> strata::fs::Result<Arc<[DirEntry]>> {
        self.0.list(dir)
    }
    fn chunk(&self, file: Ino, index: u64) -> strata::fs::Result<Bytes> {
        self.0.chunk(file, index)
    }
}

/// A panic inside one request (here the embedder's image, called by the
/// core on the actor) fails that request with `Io`, changes nothing, and
/// the actor serves everyone else. (A read on a snapshot calls the image
/// on the caller's own thread, and a panic there unwinds there, as one in
/// any host function does.)
#[tokio::test]
async fn a_panic_inside_a_request_fails_it_and_the_actor_lives_on() {
    let image = MemBase::builder().file("kept", &b"kept"[..]).build();
    let vfs = VfsBuilder::new().image(PanicsOn(image, "boom")).spawn();
    let fork = vfs.root();
    let (root, _) = file_with(&fork, "before", Bytes::from_static(b"x")).await;
    let before = fork.usage().await.unwrap();
    let mkdir = root.create_dir_at("boom");
    assert_eq!(bounded("mkdir", mkdir).await, Err(Error::Errno(Errno::Io)));
    assert_eq!(
        fork.usage().await.unwrap(),
        before,
        "the failed request left a trace"
    );
    assert_eq!(fork.read_file("kept").await.unwrap(), b"kept");
    fork.write_file("after", b"y").await.unwrap();
    assert_eq!(fork.read_file("after").await.unwrap(), b"y");
    assert!(!vfs.is_stopped());
}

fn image() -> MemBase {
    let mut b = MemBase::builder();
    for i in 0..20 {
        b = b.file(
            &format!("data/f{i}"),
            format!("contents of file {i}").into_bytes(),
        );
    }
    b.build()
}

/// A backend whose lookups of `data` wait until the test opens the gate
/// (everything else answers at once): as slow as the test needs, with no
/// timing involved.
struct Gated(MemBase, Arc<tokio::sync::Semaphore>);

impl Backend for Gated {
    fn root(&self) -> Ino {
        Backend::root(&self.0)
    }
    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>> {
        let gated = matches!(need, Need::Lookup(_, name) if &**name == "data");
        let (answer, gate) = (self.0.fetch(need), self.1.clone());
        async move {
            if gated {
                let _pass = gate.acquire().await.map_err(|_| Errno::Io)?;
            }
            answer.await
        }
        .boxed()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_requests_complete_while_one_waits_for_a_slow_backend() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let vfs = VfsBuilder::new()
        .backend(Gated(image(), gate.clone()))
        .spawn();
    let fork = vfs.root();
    let root = bounded("open_root", fork.open_root()).await.unwrap();
    let scratch = bounded("create", root.open_at("scratch", create()))
        .await
        .unwrap();
    let slow = tokio::spawn({
        let fork = fork.clone();
        async move { fork.read_file("data/f7").await }
    });
    // While the read is parked behind the closed gate, the actor serves
    // writes (if it waited for the fetch, these would hang and time out).
    for i in 0..100u64 {
        bounded(
            "a write while a fetch is pending",
            scratch.write(i, Bytes::from_static(b"z")),
        )
        .await
        .unwrap();
    }
    assert!(
        !slow.is_finished(),
        "the read cannot finish before the gate opens"
    );
    gate.add_permits(1);
    let got = bounded("the slow read", slow).await.unwrap().unwrap();
    assert_eq!(got, b"contents of file 7");
}

/// Shards: two filesystems, each with its own actor on its own
/// current-thread runtime (guest and actor taking turns on one thread),
/// over one image held once.
#[test]
fn filesystems_on_separate_runtimes_share_one_image() {
    let image = Arc::new(image());
    let shards: Vec<_> = (0..2)
        .map(|shard| {
            let image = image.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let vfs = VfsBuilder::new().image(image).spawn();
                    let guest = vfs.root().fork().await.unwrap();
                    guest
                        .write_file("data/f1", format!("shard {shard}").as_bytes())
                        .await
                        .unwrap();
                    (
                        guest.read_file("data/f1").await.unwrap(),
                        guest.read_file("data/f2").await.unwrap(),
                    )
                })
            })
        })
        .collect();
    for (shard, thread) in shards.into_iter().enumerate() {
        let (own, shared) = thread.join().unwrap();
        assert_eq!(own, format!("shard {shard}").into_bytes());
        assert_eq!(shared, b"contents of file 2");
    }
    assert_eq!(
        Arc::strong_count(&image),
        1,
        "the shards let go of the image"
    );
}

/// A backend that counts its fetches, each a little slow.
struct Counting(MemBase, Arc<AtomicUsize>);

impl Backend for Counting {
    fn root(&self) -> Ino {
        Backend::root(&self.0)
    }
    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        let answer = self.0.fetch(need);
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            answer.await
        }
        .boxed()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_fetch() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let vfs = VfsBuilder::new()
        .backend(Counting(image(), fetches.clone()))
        .spawn();
    let reads: Vec<_> = (0..32)
        .map(|_| {
            let fork = vfs.root();
            tokio::spawn(async move { fork.read_file("data/f3").await })
        })
        .collect();
    for r in reads {
        assert_eq!(
            bounded("read", r).await.unwrap().unwrap(),
            b"contents of file 3"
        );
    }
    // root node, lookup data, lookup f3 (with its node), chunk 0 — each once.
    assert_eq!(fetches.load(Ordering::SeqCst), 4);
}

/// A program creating files in a directory of the image looks up one new
/// name per file; past a few misses the actor fetches the directory's
/// listing once, and every later new name is known missing without a fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_many_files_in_an_image_directory_fetches_its_listing_once() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let vfs = VfsBuilder::new()
        .backend(Counting(image(), fetches.clone()))
        .spawn();
    let data = data_dir_of_a_fork(&vfs).await;
    for i in 0..100 {
        data.open_at(&format!("new{i}"), create()).await.unwrap();
    }
    let names = data.read_dir(None, 1000).await.unwrap();
    assert_eq!(names.len(), 120);
    let fetched = fetches.load(Ordering::SeqCst);
    assert!(
        fetched <= 16,
        "100 creates took {fetched} fetches: the listing should end the lookups"
    );
}

/// The image's `data` directory, opened in a new fork.
async fn data_dir_of_a_fork(vfs: &VfsHandle) -> strata::actor::OpenFile {
    let fork = vfs.root().fork().await.unwrap();
    let root = fork.open_root().await.unwrap();
    root.open_at("data", OpenOptions::new()).await.unwrap()
}

/// A backend that answers everything but listings.
struct Unlistable(MemBase);

impl Backend for Unlistable {
    fn root(&self) -> Ino {
        Backend::root(&self.0)
    }
    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>> {
        match need {
            Need::List(_) => async { Err(Errno::Access) }.boxed(),
            _ => self.0.fetch(need),
        }
    }
}

/// A directory one may search but not read (its listing refused) still
/// takes new files, looked up one by one; listing it fails as it should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_the_backend_will_not_list_still_takes_new_files() {
    let vfs = VfsBuilder::new().backend(Unlistable(image())).spawn();
    let data = data_dir_of_a_fork(&vfs).await;
    for i in 0..30 {
        bounded("a create", data.open_at(&format!("new{i}"), create()))
            .await
            .unwrap();
    }
    assert_eq!(
        data.stat_at("new29", strata::actor::FollowSymlinks::Yes)
            .await
            .unwrap()
            .kind,
        Kind::File
    );
    assert_eq!(
        bounded("a listing", data.read_dir(None, 100)).await,
        Err(Error::Errno(Errno::Access))
    );
}

/// Committing a child that renamed a directory of a lazily fetched image
/// costs what the child changed, not the directory's subtree: no listing
/// below it is fetched (each would be a miss, and a re-run of the commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committing_a_moved_image_directory_fetches_nothing_below_it() {
    let mut image = MemBase::builder();
    for i in 0..20 {
        for j in 0..5 {
            image = image.file(&format!("usr/d{i}/e{j}/f"), &b"x"[..]);
        }
    }
    let fetches = Arc::new(AtomicUsize::new(0));
    let vfs = VfsBuilder::new()
        .backend(Counting(image.build(), fetches.clone()))
        .spawn();
    let child = vfs.root().fork().await.unwrap();
    let root = child.open_root().await.unwrap();
    root.rename_at("usr", &root, "usr2").await.unwrap();
    drop(root);
    let before = fetches.load(Ordering::SeqCst);
    bounded("commit", child.commit()).await.unwrap();
    assert!(
        fetches.load(Ordering::SeqCst) - before <= 2,
        "the commit fetched {} pieces",
        fetches.load(Ordering::SeqCst) - before
    );
    assert_eq!(vfs.root().read_file("usr2/d7/e3/f").await.unwrap(), b"x");
}

#[tokio::test]
async fn an_unlinked_open_file_survives_until_its_openfile_drops() {
    let vfs = VfsBuilder::new().spawn();
    let fork = vfs.root();
    let (root, file) = file_with(&fork, "tmp", Bytes::from_static(b"still here")).await;
    root.unlink_file_at("tmp").await.unwrap();
    assert_eq!(file.read(0, 100).await.unwrap().concat(), b"still here");
    assert_eq!(fork.usage().await.unwrap().bytes, 10);
    drop(file);
    bounded("release", async {
        while fork.usage().await.unwrap().bytes != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// Closing the last handle of an unlinked file is a one-way note; the
/// space must be free for the very next request, not the one after.
#[tokio::test]
async fn an_unlinked_files_space_is_free_once_its_last_handle_is_dropped() {
    let limits = Limits {
        max_bytes: 10_000,
        ..Limits::default()
    };
    let vfs = VfsBuilder::new().limits(limits).spawn();
    let root = vfs.root().open_root().await.unwrap();
    let file = root.open_at("big", create()).await.unwrap();
    let data = Bytes::from(vec![1u8; 8000]);
    file.write(0, data.clone()).await.unwrap();
    root.unlink_file_at("big").await.unwrap();
    let other = root.open_at("other", create()).await.unwrap();
    drop(file);
    other.write(0, data).await.unwrap();
}

/// Two callers' requests in one batch: an unlink, then a write that needs
/// its space. The write must see the space free, as it would one batch later.
#[tokio::test]
async fn an_unlink_frees_space_for_the_next_request_in_the_same_batch() {
    let limits = Limits {
        max_bytes: 10_000,
        ..Limits::default()
    };
    let vfs = VfsBuilder::new().limits(limits).spawn();
    let fork = vfs.root();
    fork.write_file("big", &[1u8; 8000]).await.unwrap();
    let root = fork.open_root().await.unwrap();
    let other = root.open_at("other", create()).await.unwrap();
    // `join!` polls both before the actor runs (one thread): one batch.
    let (unlinked, written) = futures::join!(
        root.unlink_file_at("big"),
        other.write(0, Bytes::from(vec![2u8; 8000])),
    );
    unlinked.unwrap();
    written.unwrap();
}

/// Notes (a handle given back, a handle taken on the snapshot) do not wake
/// the actor one by one, but they cannot pile up either: a few hundred of
/// them wake it, and it acts on all of them — here, dropping an unlinked
/// file whose last handle went — without anyone making a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_notes_wake_the_actor_after_a_few_hundred() {
    let vfs = VfsBuilder::new().spawn();
    let fork = vfs.root();
    fork.write_file("other", b"x").await.unwrap();
    let root = fork.open_root().await.unwrap();
    let file = root.open_at("tmp", create()).await.unwrap();
    file.write(0, Bytes::from_static(&[1; 100])).await.unwrap();
    root.unlink_file_at("tmp").await.unwrap();
    // `None` while the actor has taken the snapshot back to change the fork
    // (once woken, to drop the file).
    let bytes = || {
        fork.read_snapshot(|r| Ok(r.usage().bytes))
            .map(Result::unwrap)
    };
    assert_eq!(bytes(), Some(101));
    drop(file);
    // Opens and closes on the snapshot: two notes each, no request — until
    // the notes wake the actor, which may then have the snapshot back for
    // a moment (an open then asks the actor, after the wake-up).
    for _ in 0..200 {
        let other = root.open_at("other", OpenOptions::new());
        drop(bounded("an open", other).await.unwrap());
    }
    bounded("the actor to read its notes", async {
        while bytes() != Some(1) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

/// Opens on the snapshot and opens through the actor take from one count:
/// `max_open` holds exactly, and closing gives handles back.
#[tokio::test]
async fn the_open_limit_counts_opens_on_the_snapshot_too() {
    let limits = Limits {
        max_open: 4,
        ..Limits::default()
    };
    let vfs = VfsBuilder::new().limits(limits).spawn();
    let fork = vfs.root();
    fork.write_file("f", b"data").await.unwrap();
    let root = fork.open_root().await.unwrap();
    let open = |path, flags| root.open_at(path, OpenOptions::new().flags(flags));
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open("f", OpenFlags::default()).await.unwrap());
    }
    // Full: an open on the snapshot and a create in the actor are refused.
    for (path, flags) in [("f", OpenFlags::default()), ("new", CREATE)] {
        assert!(matches!(
            open(path, flags).await,
            Err(Error::Errno(Errno::TooManyOpen))
        ));
    }
    held.pop();
    let again = bounded("release", async {
        loop {
            match open("new", CREATE).await {
                Ok(file) => break file,
                Err(Error::Errno(Errno::TooManyOpen)) => tokio::task::yield_now().await,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert_eq!(fork.usage().await.unwrap().open, 4);
    drop((again, held));
    bounded("release all", async {
        while fork.usage().await.unwrap().open != 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// Opens of existing files run on the published snapshot and reach the
/// actor afterwards. One racing an unlink and the last close of its file
/// must still get the whole file, never a handle on an inode already gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_on_a_snapshot_keeps_its_file_through_a_racing_unlink() {
    let vfs = VfsBuilder::new().spawn();
    let fork = vfs.root();
    let dir = Arc::new(fork.open_root().await.unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let churner = tokio::spawn({
        let (fork, dir, done) = (fork.clone(), dir.clone(), done.clone());
        async move {
            for i in 0..10_000u32 {
                // Whole from the moment it has its name.
                fork.write_file("tmp", &[i as u8; 4096]).await.unwrap();
                dir.rename_at("tmp", &dir, "x").await.unwrap();
                dir.unlink_file_at("x").await.unwrap();
            }
            done.store(true, Ordering::SeqCst);
        }
    });
    let mut openers = Vec::new();
    for _ in 0..2 {
        let (dir, done) = (dir.clone(), done.clone());
        openers.push(tokio::spawn(async move {
            let mut opened = 0;
            while !done.load(Ordering::SeqCst) {
                match dir.open_at("x", OpenOptions::new()).await {
                    Ok(file) => {
                        let data = file.read(0, 8192).await.unwrap().concat();
                        assert_eq!(data.len(), 4096);
                        assert!(data.iter().all(|&b| b == data[0]));
                        opened += 1;
                    }
                    Err(Error::Errno(Errno::NoEntry)) => {}
                    Err(e) => panic!("open: {e}"),
                }
                tokio::task::yield_now().await;
            }
            opened
        }));
    }
    bounded("churn", churner).await.unwrap();
    for opener in openers {
        assert!(bounded("opener", opener).await.unwrap() > 0);
    }
    // Every handle went back and every unlinked file with it.
    bounded("sweep", async {
        loop {
            let usage = fork.usage().await.unwrap();
            if usage.open == 1 && usage.bytes == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_directory_is_read_lazily_and_never_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/hello.txt"), b"hello from the host").unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("escape")).unwrap();
    let vfs = VfsBuilder::new()
        .backend(HostDir::new(dir.path()).unwrap())
        .spawn();
    let fork = vfs.root().fork().await.unwrap();
    assert_eq!(
        fork.read_file("sub/hello.txt").await.unwrap(),
        b"hello from the host"
    );
    assert_eq!(fork.read_file("big.bin").await.unwrap(), big);
    assert_eq!(
        fork.read_file("escape").await,
        Err(Error::Errno(Errno::NotPermitted))
    );
    let root = fork.open_root().await.unwrap();
    let names: Vec<(String, Kind)> = root
        .read_dir(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.name.to_string(), e.kind))
        .collect();
    assert_eq!(
        names,
        [
            ("big.bin".into(), Kind::File),
            ("escape".into(), Kind::Symlink),
            ("sub".into(), Kind::Dir)
        ]
    );
    // Writes land in the overlay; the host directory is untouched.
    fork.write_file("sub/hello.txt", b"changed").await.unwrap();
    root.unlink_file_at("big.bin").await.unwrap();
    fork.write_file("new.txt", b"new").await.unwrap();
    assert_eq!(fork.read_file("sub/hello.txt").await.unwrap(), b"changed");
    assert_eq!(
        std::fs::read(dir.path().join("sub/hello.txt")).unwrap(),
        b"hello from the host"
    );
    assert_eq!(std::fs::read(dir.path().join("big.bin")).unwrap(), big);
    assert!(!dir.path().join("new.txt").exists());
    let paths: Vec<String> = fork
        .diff()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(paths, ["/big.bin", "/new.txt", "/sub/hello.txt"]);
}

/// The same small workload through the actor and the lock designs.
async fn workload(client: impl Client) -> Vec<String> {
    let fork = ForkId::ROOT;
    let mut seen = Vec::new();
    let root = client.open_root(fork).await.unwrap();
    for i in 0..10 {
        let (ino, _) = client
            .open_at(fork, root, &format!("f{i}"), CREATE, true)
            .await
            .unwrap();
        client
            .write(fork, ino, 0, Bytes::from(vec![i as u8; 4096]))
            .await
            .unwrap();
        let data = client.read(fork, ino, 0, 8192).await.unwrap().concat();
        seen.push(format!("{} {}", data.len(), data[0]));
        seen.push(format!(
            "{:?}",
            client
                .stat_at(fork, root, &format!("f{i}"))
                .await
                .unwrap()
                .size
        ));
        client.close(fork, ino).await;
        if i % 3 == 0 {
            client
                .unlink_file_at(fork, root, &format!("f{i}"))
                .await
                .unwrap();
        }
    }
    seen.push(format!("{:?}", client.stat_at(fork, root, "f3").await));
    seen.push(format!(
        "{:?}",
        client.stat(fork, root).await.map(|s| s.kind)
    ));
    seen
}

#[tokio::test]
async fn the_lock_baselines_behave_like_the_actor() {
    let actor = workload(VfsBuilder::new().spawn()).await;
    let std_mutex = workload(StdMutexVfs::new(MemBase::empty(), Limits::default())).await;
    let tokio_mutex = workload(TokioMutexVfs::new(MemBase::empty(), Limits::default())).await;
    let snapshot_mutex = workload(SnapshotMutexVfs::new(MemBase::empty(), Limits::default())).await;
    let locked = workload(baseline::locked(VfsBuilder::new())).await;
    assert_eq!(actor, locked);
    assert_eq!(actor, std_mutex);
    assert_eq!(actor, tokio_mutex);
    assert_eq!(actor, snapshot_mutex);
    let lazy = workload(TokioMutexVfs::with_backend(
        Delayed::new(image(), Duration::from_millis(1)),
        Limits::default(),
    ))
    .await;
    assert_eq!(actor, lazy);
    let lazy_snapshots = workload(SnapshotMutexVfs::with_backend(
        Delayed::new(image(), Duration::from_millis(1)),
        Limits::default(),
    ))
    .await;
    assert_eq!(actor, lazy_snapshots);
    assert_eq!(actor[0], "4096 0");
}

/// The lock baseline's route counts handles opened and closed on the
/// snapshot, stops as the actor does, and fails a miss it cannot fetch
/// with `Io` (no task runs fetches there) instead of waiting.
#[tokio::test]
async fn the_lock_baseline_counts_handles_stops_and_fails_misses() {
    let vfs = baseline::locked(VfsBuilder::new());
    let (root, file) = file_with(&vfs.root(), "kept", Bytes::from_static(b"data")).await;
    drop(file);
    // Opens and closes on the snapshot are notes only; once read, nothing
    // but the root directory is held.
    for _ in 0..1_000 {
        drop(root.open_at("kept", OpenOptions::new()).await.unwrap());
    }
    assert_eq!(root.fork().usage().await.unwrap().open, 1);
    vfs.shutdown().await;
    assert!(vfs.is_stopped());
    assert_eq!(vfs.root().fork().await.err(), Some(Error::Stopped));
    vfs.shutdown().await; // a second shutdown returns too

    let lazy = baseline::locked(
        VfsBuilder::new().backend(Delayed::new(image(), Duration::from_millis(1))),
    );
    let missed = lazy.root().read_file("a").await;
    assert_eq!(missed.err(), Some(Error::Errno(Errno::Io)));
}

#[allow(dead_code)]
fn assert_send_sync<T: Send + Sync + Clone>() {}

#[test]
fn handles_are_send_sync_and_clone() {
    assert_send_sync::<VfsHandle>();
}

/// A task whose calls never wait (reads and stats from the snapshot) still
/// lets the others on its worker run: such calls count against tokio's
/// cooperative budget, as a socket read that found data does. On one thread
/// the spinning task is the only one that could otherwise run; it stops on
/// its own after a bound, and must have seen the other task finish first.
#[tokio::test(flavor = "current_thread")]
async fn calls_served_at_once_let_other_tasks_run() {
    const CREATES: usize = 20;
    let vfs = VfsBuilder::new().spawn();
    let (root, file) = file_with(&vfs.root(), "spun", Bytes::from(vec![1; 4096])).await;
    let file = Arc::new(file);
    let created = Arc::new(AtomicUsize::new(0));
    let spinner = tokio::spawn({
        let (file, created) = (file.clone(), created.clone());
        async move {
            for _ in 0..200_000u64 {
                if created.load(Ordering::Relaxed) == CREATES {
                    return true;
                }
                file.read(0, 8).await.unwrap();
                file.stat().await.unwrap();
            }
            false
        }
    });
    // A task, as a guest is (the runtime polls the future it blocks on only
    // every few dozen tasks).
    let creator = tokio::spawn({
        let created = created.clone();
        async move {
            for i in 0..CREATES {
                root.open_at(&format!("new{i}"), create()).await.unwrap();
                created.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    assert!(
        spinner.await.unwrap(),
        "a task whose calls never waited kept the others from running"
    );
    creator.await.unwrap();
}

/// A shutdown whose caller stops waiting (a timeout around it) still stops
/// the actor.
#[tokio::test]
async fn an_abandoned_shutdown_still_stops_the_actor() {
    let vfs = VfsBuilder::new().spawn();
    let mut shutdown = Box::pin(vfs.shutdown());
    // Sends the request, then waits for the answer: give up then.
    assert!(futures::poll!(&mut shutdown).is_pending());
    drop(shutdown);
    for _ in 0..100 {
        if vfs.is_stopped() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        vfs.is_stopped(),
        "the shutdown request was dropped unserved"
    );
}

/// `Fork::read_file` of a file whose data has not been fetched yet reads
/// the whole file, past one read's `Limits::max_io`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_file_of_a_big_unfetched_file_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let size = 20 << 20;
    std::fs::write(dir.path().join("big"), vec![7u8; size]).unwrap();
    let vfs = VfsBuilder::new()
        .backend(strata::actor::HostDir::new(dir.path()).unwrap())
        .spawn();
    let data = vfs.root().read_file("big").await.unwrap();
    assert_eq!(data.len(), size, "read_file returned a short file");
}

/// `Limits::max_io` of 0 is taken as 1: whole-file helpers that loop until
/// done finish instead of spinning.
#[tokio::test]
async fn a_zero_max_io_still_moves_data() {
    let limits = Limits {
        max_io: 0,
        ..Limits::default()
    };
    let vfs = VfsBuilder::new().limits(limits).spawn();
    // (A loop that never ends is a hang: `bounded` makes it a failure.)
    bounded("write_file", vfs.root().write_file("f", b"abc"))
        .await
        .unwrap();
    let read = bounded("read_file", vfs.root().read_file("f")).await;
    assert_eq!(read.unwrap(), b"abc");
}
