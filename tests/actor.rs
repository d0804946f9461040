//! The actor under concurrency, shutdown, crashes, cancellation and slow
//! backends. No test here measures speed; timeouts only turn a hang into a
//! failure.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{CREATE, bounded, file_with};
use futures::future::{BoxFuture, FutureExt};
use strata::actor::baseline::{Client, StdMutexVfs, TokioMutexVfs};
use strata::actor::{Backend, Delayed, Error, HostDir, VfsBuilder, VfsHandle};
use strata::fs::{
    Base, BaseNode, DirEntry, Errno, ForkId, Ino, Kind, Limits, Loaded, MemBase, Need, OpenFlags,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_hammering_one_actor_end_consistent() {
    let vfs = VfsBuilder::new().spawn();
    let fork = ForkId::ROOT;
    let root = vfs.open_root(fork).await.unwrap();
    vfs.create_dir_at(fork, root.ino(), "shared").await.unwrap();
    let log = vfs
        .open_at(fork, root.ino(), "shared/log", true, CREATE, true)
        .await
        .unwrap();
    let (tasks, rounds) = (64, 50);
    let mut joins = Vec::new();
    for t in 0..tasks {
        let (vfs, root, log) = (vfs.clone(), root.ino(), log.ino());
        joins.push(tokio::spawn(async move {
            vfs.create_dir_at(fork, root, &format!("t{t}"))
                .await
                .unwrap();
            for r in 0..rounds {
                let f = vfs
                    .open_at(fork, root, &format!("t{t}/f{r}"), true, CREATE, true)
                    .await
                    .unwrap();
                let data = Bytes::from(format!("task {t} round {r}"));
                vfs.write(fork, f.ino(), 0, data.clone()).await.unwrap();
                // Read-your-writes through the published snapshot.
                assert_eq!(
                    vfs.read(fork, f.ino(), 0, 100).await.unwrap().concat(),
                    data
                );
                vfs.append(fork, log, Bytes::from_static(b"x"))
                    .await
                    .unwrap();
                if r % 2 == 1 {
                    vfs.unlink_file_at(fork, root, &format!("t{t}/f{}", r - 1))
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for j in joins {
        bounded("a client task", j).await.unwrap();
    }
    assert_eq!(
        vfs.stat(fork, log.ino()).await.unwrap().size,
        tasks * rounds
    );
    for t in 0..tasks {
        let dir = vfs
            .open_at(
                fork,
                root.ino(),
                &format!("t{t}"),
                true,
                OpenFlags::default(),
                false,
            )
            .await
            .unwrap();
        let names: Vec<String> = vfs
            .read_dir(fork, dir.ino(), None, 1000)
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
            let got = vfs.read_file(fork, &format!("t{t}/f{r}")).await.unwrap();
            assert_eq!(got, format!("task {t} round {r}").into_bytes());
        }
    }
}

#[tokio::test]
async fn calls_after_shutdown_fail_at_once() {
    let vfs = VfsBuilder::new().spawn();
    let root = vfs.open_root(ForkId::ROOT).await.unwrap();
    let other = vfs.clone();
    bounded("shutdown", vfs.shutdown()).await;
    assert!(other.is_stopped());
    assert_eq!(
        bounded("stat", other.stat(ForkId::ROOT, root.ino())).await,
        Err(Error::Stopped)
    );
    assert_eq!(
        bounded("fork", other.fork(ForkId::ROOT)).await,
        Err(Error::Stopped)
    );
    assert_eq!(
        bounded("write_file", other.write_file(ForkId::ROOT, "x", b"y")).await,
        Err(Error::Stopped)
    );
    assert_eq!(other.snapshot(ForkId::ROOT).unwrap_err(), Error::Stopped);
    // A second shutdown is harmless.
    bounded("shutdown again", other.shutdown()).await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_actor() {
    // The actor's filesystem holds the clock: once the actor has stopped
    // and dropped its filesystem, only the test's `Arc` is left (`root`
    // keeps the state handles share alive, which holds no clock).
    let clock = Arc::new(strata::fs::ManualClock::default());
    let vfs = VfsBuilder::new().clock(clock.clone()).spawn();
    let root = vfs.open_root(ForkId::ROOT).await.unwrap();
    assert_eq!(Arc::strong_count(&clock), 2);
    drop(vfs);
    bounded("the actor stopping", async {
        while Arc::strong_count(&clock) > 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // The `OpenFile` outliving the actor drops quietly.
    drop(root);
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
    let fork = ForkId::ROOT;
    let (root, _) = file_with(&vfs, fork, "before", Bytes::from_static(b"x")).await;
    let before = vfs.usage(fork).await.unwrap();
    let mkdir = vfs.create_dir_at(fork, root.ino(), "boom");
    assert_eq!(bounded("mkdir", mkdir).await, Err(Error::Errno(Errno::Io)));
    assert_eq!(
        vfs.usage(fork).await.unwrap(),
        before,
        "the failed request left a trace"
    );
    assert_eq!(vfs.read_file(fork, "kept").await.unwrap(), b"kept");
    vfs.write_file(fork, "after", b"y").await.unwrap();
    assert_eq!(vfs.read_file(fork, "after").await.unwrap(), b"y");
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
    let fork = ForkId::ROOT;
    let root = bounded("open_root", vfs.open_root(fork)).await.unwrap();
    let scratch = bounded(
        "create",
        vfs.open_at(fork, root.ino(), "scratch", true, CREATE, true),
    )
    .await
    .unwrap();
    let slow = tokio::spawn({
        let vfs = vfs.clone();
        async move { vfs.read_file(fork, "data/f7").await }
    });
    // While the read is parked behind the closed gate, the actor serves
    // writes (if it waited for the fetch, these would hang and time out).
    for i in 0..100u64 {
        bounded(
            "a write while a fetch is pending",
            vfs.write(fork, scratch.ino(), i, Bytes::from_static(b"z")),
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
            let vfs = vfs.clone();
            tokio::spawn(async move { vfs.read_file(ForkId::ROOT, "data/f3").await })
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
    let child = vfs.fork(ForkId::ROOT).await.unwrap();
    let root = vfs.open_root(child).await.unwrap();
    vfs.rename_at(child, root.ino(), "usr", root.ino(), "usr2")
        .await
        .unwrap();
    drop(root);
    let before = fetches.load(Ordering::SeqCst);
    bounded("commit", vfs.commit(child)).await.unwrap();
    assert!(
        fetches.load(Ordering::SeqCst) - before <= 2,
        "the commit fetched {} pieces",
        fetches.load(Ordering::SeqCst) - before
    );
    assert_eq!(
        vfs.read_file(ForkId::ROOT, "usr2/d7/e3/f").await.unwrap(),
        b"x"
    );
}

#[tokio::test]
async fn an_unlinked_open_file_survives_until_its_openfile_drops() {
    let vfs = VfsBuilder::new().spawn();
    let fork = ForkId::ROOT;
    let (root, file) = file_with(&vfs, fork, "tmp", Bytes::from_static(b"still here")).await;
    vfs.unlink_file_at(fork, root.ino(), "tmp").await.unwrap();
    assert_eq!(
        vfs.read(fork, file.ino(), 0, 100).await.unwrap().concat(),
        b"still here"
    );
    assert_eq!(vfs.usage(fork).await.unwrap().bytes, 10);
    drop(file);
    bounded("release", async {
        while vfs.usage(fork).await.unwrap().bytes != 0 {
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
    let fork = ForkId::ROOT;
    let root = vfs.open_root(fork).await.unwrap();
    let file = vfs
        .open_at(fork, root.ino(), "big", true, CREATE, true)
        .await
        .unwrap();
    let data = Bytes::from(vec![1u8; 8000]);
    vfs.write(fork, file.ino(), 0, data.clone()).await.unwrap();
    vfs.unlink_file_at(fork, root.ino(), "big").await.unwrap();
    let other = vfs
        .open_at(fork, root.ino(), "other", true, CREATE, true)
        .await
        .unwrap();
    drop(file);
    vfs.write(fork, other.ino(), 0, data).await.unwrap();
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
    let fork = ForkId::ROOT;
    vfs.write_file(fork, "big", &[1u8; 8000]).await.unwrap();
    let root = vfs.open_root(fork).await.unwrap();
    let other = vfs
        .open_at(fork, root.ino(), "other", true, CREATE, true)
        .await
        .unwrap();
    // `join!` polls both before the actor runs (one thread): one batch.
    let (unlinked, written) = futures::join!(
        vfs.unlink_file_at(fork, root.ino(), "big"),
        vfs.write(fork, other.ino(), 0, Bytes::from(vec![2u8; 8000])),
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
    let fork = ForkId::ROOT;
    vfs.write_file(fork, "other", b"x").await.unwrap();
    let root = vfs.open_root(fork).await.unwrap();
    let file = vfs
        .open_at(fork, root.ino(), "tmp", true, CREATE, true)
        .await
        .unwrap();
    vfs.write(fork, file.ino(), 0, Bytes::from_static(&[1; 100]))
        .await
        .unwrap();
    vfs.unlink_file_at(fork, root.ino(), "tmp").await.unwrap();
    let bytes = || {
        vfs.read_snapshot(fork, |r| Ok(r.usage().bytes))
            .expect("all in memory")
            .unwrap()
    };
    assert_eq!(bytes(), 101);
    drop(file);
    // Opens and closes on the snapshot: two notes each, no request.
    for _ in 0..200 {
        let other = vfs.open_at(fork, root.ino(), "other", true, OpenFlags::default(), false);
        drop(
            other
                .now_or_never()
                .expect("served on the snapshot")
                .unwrap(),
        );
    }
    bounded("the actor to read its notes", async {
        while bytes() != 1 {
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
    let fork = ForkId::ROOT;
    vfs.write_file(fork, "f", b"data").await.unwrap();
    let root = vfs.open_root(fork).await.unwrap();
    let open = |path, flags| vfs.open_at(fork, root.ino(), path, true, flags, false);
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
    assert_eq!(vfs.usage(fork).await.unwrap().open, 4);
    drop((again, held));
    bounded("release all", async {
        while vfs.usage(fork).await.unwrap().open != 1 {
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
    let fork = ForkId::ROOT;
    let root = vfs.open_root(fork).await.unwrap();
    let dir = root.ino();
    let done = Arc::new(AtomicBool::new(false));
    let churner = tokio::spawn({
        let (vfs, done) = (vfs.clone(), done.clone());
        async move {
            for i in 0..10_000u32 {
                // Whole from the moment it has its name.
                vfs.write_file(fork, "tmp", &[i as u8; 4096]).await.unwrap();
                vfs.rename_at(fork, dir, "tmp", dir, "x").await.unwrap();
                vfs.unlink_file_at(fork, dir, "x").await.unwrap();
            }
            done.store(true, Ordering::SeqCst);
        }
    });
    let mut openers = Vec::new();
    for _ in 0..2 {
        let (vfs, done) = (vfs.clone(), done.clone());
        openers.push(tokio::spawn(async move {
            let mut opened = 0;
            while !done.load(Ordering::SeqCst) {
                match vfs
                    .open_at(fork, dir, "x", true, OpenFlags::default(), false)
                    .await
                {
                    Ok(file) => {
                        let data = vfs.read(fork, file.ino(), 0, 8192).await.unwrap().concat();
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
            let usage = vfs.usage(fork).await.unwrap();
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
    let fork = vfs.fork(ForkId::ROOT).await.unwrap();
    assert_eq!(
        vfs.read_file(fork, "sub/hello.txt").await.unwrap(),
        b"hello from the host"
    );
    assert_eq!(vfs.read_file(fork, "big.bin").await.unwrap(), big);
    assert_eq!(
        vfs.read_file(fork, "escape").await,
        Err(Error::Errno(Errno::NotPermitted))
    );
    let root = vfs.open_root(fork).await.unwrap();
    let names: Vec<(String, Kind)> = vfs
        .read_dir(fork, root.ino(), None, 10)
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
    vfs.write_file(fork, "sub/hello.txt", b"changed")
        .await
        .unwrap();
    vfs.unlink_file_at(fork, root.ino(), "big.bin")
        .await
        .unwrap();
    vfs.write_file(fork, "new.txt", b"new").await.unwrap();
    assert_eq!(
        vfs.read_file(fork, "sub/hello.txt").await.unwrap(),
        b"changed"
    );
    assert_eq!(
        std::fs::read(dir.path().join("sub/hello.txt")).unwrap(),
        b"hello from the host"
    );
    assert_eq!(std::fs::read(dir.path().join("big.bin")).unwrap(), big);
    assert!(!dir.path().join("new.txt").exists());
    let paths: Vec<String> = vfs
        .diff(fork)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(paths, ["/big.bin", "/new.txt", "/sub/hello.txt"]);
}

/// The same small workload through the actor and both lock designs.
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
    assert_eq!(actor, std_mutex);
    assert_eq!(actor, tokio_mutex);
    let lazy = workload(TokioMutexVfs::with_backend(
        Delayed::new(image(), Duration::from_millis(1)),
        Limits::default(),
    ))
    .await;
    assert_eq!(actor, lazy);
    assert_eq!(actor[0], "4096 0");
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
    let fork = ForkId::ROOT;
    let (root, file) = file_with(&vfs, fork, "spun", Bytes::from(vec![1; 4096])).await;
    let ino = file.ino();
    let created = Arc::new(AtomicUsize::new(0));
    let spinner = tokio::spawn({
        let (vfs, created) = (vfs.clone(), created.clone());
        async move {
            for _ in 0..200_000u64 {
                if created.load(Ordering::Relaxed) == CREATES {
                    return true;
                }
                vfs.read(fork, ino, 0, 8).await.unwrap();
                vfs.stat(fork, ino).await.unwrap();
            }
            false
        }
    });
    // A task, as a guest is (the runtime polls the future it blocks on only
    // every few dozen tasks).
    let creator = tokio::spawn({
        let (vfs, created) = (vfs.clone(), created.clone());
        async move {
            for i in 0..CREATES {
                vfs.open_at(fork, root.ino(), &format!("new{i}"), true, CREATE, true)
                    .await
                    .unwrap();
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
