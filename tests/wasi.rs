//! Real guest programs through wasmtime against Strata, compared with the
//! same programs on wasmtime-wasi's own host filesystem.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::guest::{
    Run, component_from_module, guest, run_on_host, run_on_strata, run_p1_on_host, run_p1_on_strata,
};
use strata::actor::{Fork, VfsBuilder};
use strata::fs::MemBase;
use wasmtime::component::Component;
use wasmtime_wasi::FsPerms;

/// One guest program run twice: on a fresh fork of an empty Strata, and on
/// a temporary directory through wasmtime-wasi's own filesystem.
struct Differential {
    fork: Fork,
    dir: tempfile::TempDir,
    strata: Run,
}

impl Differential {
    /// An empty fork and an empty directory.
    async fn setup() -> (Fork, tempfile::TempDir) {
        let vfs = VfsBuilder::new().image(MemBase::empty()).spawn();
        let fork = vfs.root().fork().await.unwrap();
        (fork, tempfile::tempdir().unwrap())
    }

    /// A p1 module on both; they must print the same.
    async fn p1(path: &Path, args: &[&str]) -> Differential {
        let (fork, dir) = Differential::setup().await;
        let module = common::guest::module(path);
        let strata = run_p1_on_strata(&module, fork.clone(), FsPerms::ReadWrite, args).await;
        let host = run_p1_on_host(&module, dir.path(), args).await;
        Differential { fork, dir, strata }.compare(host)
    }

    /// A component on both; they must print the same.
    async fn component(component: &Component, args: &[&str]) -> Differential {
        let (fork, dir) = Differential::setup().await;
        let strata = run_on_strata(component, fork.clone(), FsPerms::ReadWrite, args).await;
        let host = run_on_host(component, dir.path(), args).await;
        Differential { fork, dir, strata }.compare(host)
    }

    /// A WASI 0.3 component on both; they must print the same.
    async fn p3(component: &Component, args: &[&str]) -> Differential {
        let (fork, dir) = Differential::setup().await;
        let strata =
            common::guest::run_p3_on_strata(component, fork.clone(), FsPerms::ReadWrite, args)
                .await;
        let host = common::guest::run_p3_on_host(component, dir.path(), args).await;
        Differential { fork, dir, strata }.compare(host)
    }

    fn compare(self, host: Run) -> Differential {
        assert!(host.ok, "reference run failed: {}", host.stderr);
        assert!(self.strata.ok, "strata run failed: {}", self.strata.stderr);
        println!("{}", self.strata.stdout);
        assert_eq!(self.strata.stdout, host.stdout);
        assert!(self.strata.stdout.ends_with("done\n"));
        self
    }

    /// What the guest left behind must be the same in both worlds.
    async fn assert_same_trees(&self) -> BTreeMap<String, common::Entry> {
        let snapshot = self.fork.snapshot().await.unwrap();
        let left = common::contents(&common::snapshot_of(
            snapshot.reader(),
            snapshot.reader().root(),
        ));
        assert_eq!(left, common::host_tree(self.dir.path()));
        left
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_guest_as_component_matches_wasmtime_wasi() {
    let Some(path) = guest("fsops") else { return };
    let component = component_from_module(&path);
    let run = Differential::component(&component, &["fsops", "/"]).await;
    run.assert_same_trees().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_guest_as_p1_module_matches_wasmtime_wasi() {
    let Some(path) = guest("fsops") else { return };
    let run = Differential::p1(&path, &["fsops", "/"]).await;
    assert!(run.strata.stdout.contains("rename a.txt b.txt: ok"));
    run.assert_same_trees().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_std_fs_guest_with_a_growing_heap_runs_as_p1_module() {
    let Some(path) = guest("stdfs") else { return };
    let run = Differential::p1(&path, &["stdfs", "/"]).await;
    assert!(
        run.strata
            .stdout
            .contains("read back 3 MiB: equal=true len=3145728")
    );
    let left = run.assert_same_trees().await;
    assert!(left.contains_key("/work/copy.txt"));
    let fork = &run.fork;
    let module = common::guest::module(&path);

    // `remove_dir_all` lists a directory while deleting from it. Strata's p1
    // directory cookies resume by name, so it removes everything. (On
    // wasmtime-wasi's p1 the cookies count entries, shift as entries go, and
    // the same call can leave some behind with ENOTEMPTY, depending on the
    // host filesystem's order.)
    let cleanup = run_p1_on_strata(
        &module,
        run.fork.clone(),
        FsPerms::ReadWrite,
        &["stdfs", "/", "cleanup"],
    )
    .await;
    assert!(cleanup.ok, "{}", cleanup.stderr);
    assert_eq!(
        cleanup.stdout,
        "remove_dir_all work: ok ()\nmetadata work: NotFound\ndone\n"
    );
    assert!(
        fork.diff().await.unwrap().is_empty(),
        "the fork is back to empty"
    );
}

/// The transcript of `guests/c/limits.c` under small limits; `handles` is
/// how running out of open handles reads in the guest's ABI.
fn limits_transcript(handles: &str) -> String {
    // The preopen holds one handle: 31 remain. The inode count includes the
    // 8 `h*` files made while opening handles.
    format!(
        "open long name: ENAMETOOLONG\n\
         open long path: ENAMETOOLONG\n\
         write until full: ENOSPC after 1048576 bytes\n\
         ftruncate 1 GiB: EFBIG\n\
         pwrite at 1 GiB: EFBIG\n\
         open until refused: {handles} after 31\n\
         create until refused: ENOSPC after 56\n\
         done\n"
    )
}

async fn small_limits_mount() -> Fork {
    let limits = strata::fs::Limits {
        max_bytes: 1 << 20,
        max_inodes: 64,
        max_file_size: 4 << 20,
        max_open: 32,
        ..strata::fs::Limits::default()
    };
    let vfs = VfsBuilder::new().limits(limits).spawn();
    vfs.root().fork().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_limits_are_answered_with_the_right_errors() {
    let Some(path) = guest("limits") else { return };
    let module = common::guest::module(&path);
    let run = common::guest::run_p1_on_strata(
        &module,
        small_limits_mount().await,
        FsPerms::ReadWrite,
        &["limits", "/"],
    )
    .await;
    assert!(run.ok, "{}", run.stderr);
    // Preview 1 has a code for running out of handles.
    assert_eq!(run.stdout, limits_transcript("EMFILE"));

    // wasi:filesystem@0.2 has none: `quota`, which the adapter lowers to
    // EDQUOT.
    let component = component_from_module(&path);
    let run = run_on_strata(
        &component,
        small_limits_mount().await,
        FsPerms::ReadWrite,
        &["limits", "/"],
    )
    .await;
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, limits_transcript("EDQUOT"));
}

/// A mount whose fork may hold plenty, on a host whose budget a neighbour
/// fork has partly used: what is left for the guest is exactly the 1 MiB
/// and 64 inodes of `small_limits_mount`, so the guest must run into the
/// same walls, this time the host's. (The host holds three inodes besides
/// the guest's: the neighbour's file, and each fork's copy of the root
/// directory it changed.)
async fn small_budget_mount() -> Fork {
    let limits = strata::fs::Limits {
        max_file_size: 4 << 20,
        max_open: 32,
        ..strata::fs::Limits::default()
    };
    let budget = strata::fs::Budget {
        max_bytes: (1 << 20) + (512 << 10),
        max_inodes: 64 + 3,
    };
    let vfs = VfsBuilder::new().limits(limits).budget(budget).spawn();
    let neighbour = vfs.root().fork().await.unwrap();
    neighbour
        .write_file("half", &vec![7; 512 << 10])
        .await
        .unwrap();
    vfs.root().fork().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_past_the_hosts_budget_gets_no_space() {
    let Some(path) = guest("limits") else { return };
    let module = common::guest::module(&path);
    let mount = small_budget_mount().await;
    let vfs = mount.vfs().clone();
    let run =
        common::guest::run_p1_on_strata(&module, mount, FsPerms::ReadWrite, &["limits", "/"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, limits_transcript("EMFILE"));
    // The guest's fork holds its 56 files and 8 handles' files; the host's
    // budget is as full in inodes as it may be.
    assert_eq!(vfs.budget_used().await.unwrap().inodes, 67);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_preopen_refuses_writes_like_wasmtime_wasi() {
    let Some(path) = guest("fsops") else { return };
    let module = common::guest::module(&path);
    let component = component_from_module(&path);
    let base = MemBase::builder()
        .file("existing.txt", &b"read me"[..])
        .build();
    let vfs = VfsBuilder::new().image(base).spawn();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("existing.txt"), b"read me").unwrap();

    let p1 =
        common::guest::run_p1_on_strata(&module, vfs.root(), FsPerms::ReadOnly, &["fsops", "/"])
            .await;
    let p1_host =
        common::guest::run_p1_on_host_with(&module, dir.path(), FsPerms::ReadOnly, &["fsops", "/"])
            .await;
    assert_eq!(p1.stdout, p1_host.stdout);
    assert!(p1.stdout.contains("mkdir dir: EPERM"), "{}", p1.stdout);

    let p2 = run_on_strata(&component, vfs.root(), FsPerms::ReadOnly, &["fsops", "/"]).await;
    let p2_host =
        common::guest::run_on_host_with(&component, dir.path(), FsPerms::ReadOnly, &["fsops", "/"])
            .await;
    assert_eq!(p2.stdout, p2_host.stdout);
    assert!(
        p2.stdout.contains("ls root: ok existing.txt"),
        "{}",
        p2.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2_guest_calling_wasi_filesystem_directly_matches_wasmtime_wasi() {
    let Some(path) = common::guest::p2_guest("p2fs") else {
        return;
    };
    let component = common::guest::p2_component(&path);
    let run = Differential::component(&component, &["p2fs"]).await;
    for line in [
        "r1 read 5: ok \"hello\"",
        "r2 read 5: ok \"world\"",
        "r1 read 1 (own cursor): ok \" \"",
        "skip 100: ok 11",
        "read after skip: closed",
        "size after zeroes: 16",
        "spliced: 16, g size: 16",
        "poll ready: file",
        "is-same-object f f2: 1",
        "is-same-object f g: 0",
        "metadata-hash f == f2: 1, == at(f): 1, != g: 1",
        "stream write on read-only f2: failed, filesystem-error-code bad-descriptor",
        "done",
    ] {
        assert!(run.strata.stdout.contains(line), "missing {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_stream_on_a_slow_backend_is_genuinely_pending() {
    let Some(path) = common::guest::p2_guest("p2fs") else {
        return;
    };
    let component = common::guest::p2_component(&path);
    let base = MemBase::builder()
        .file("data/slow.txt", &b"worth the wait"[..])
        .build();
    let vfs = VfsBuilder::new()
        .backend(strata::actor::Delayed::new(
            base,
            std::time::Duration::from_millis(200),
        ))
        .spawn();
    let run = run_on_strata(&component, vfs.root(), FsPerms::ReadOnly, &["p2fs"]).await;
    assert!(run.ok, "{}", run.stderr);
    // Not ready until the chunk arrives; then the file, not the 10 s clock.
    assert_eq!(
        run.stdout,
        "file ready at once: 0\npoll ready: file\nread: ok \"worth the wait\"\ndone\n"
    );
}

/// `fd_renumber` moves an open file, cursor and all, onto another number
/// and closes what was there; the numbers handed out afterwards are the
/// same as wasmtime-wasi's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fd_renumber_matches_wasmtime_wasi() {
    let Some(path) = guest("p1calls") else { return };
    let run = Differential::p1(&path, &["p1calls", "/", "renumber"]).await;
    for line in [
        "renumber a b: ok",
        "read b at a's cursor: 0",
        "pread b: 6 \"from a\"",
        "fdstat a: EBADF",
        "renumber a b again: EBADF",
        "renumber b 77: EBADF",
        "renumber b b: ok",
        "rb still reads: 6 \"from b\"",
        "prestat of an opened dir: EBADF",
    ] {
        assert!(run.strata.stdout.contains(line), "missing {line:?}");
    }
    run.assert_same_trees().await;
}

/// `poll_oneoff` over clocks (relative, absolute, monotonic, realtime),
/// files and stdout answers as wasmtime-wasi's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_oneoff_over_files_and_clocks_matches_wasmtime_wasi() {
    let Some(path) = guest("p1calls") else { return };
    let run = Differential::p1(&path, &["p1calls", "/", "poll"]).await;
    for line in [
        "relative clock: ok, 1 event(s) [11 type 0 ok]",
        "slept at least 20 ms: yes",
        "file read, far clock: ok, 1 event(s) [22 type 1 ok flags 0]",
        "file read at end: ok, 1 event(s) [31 type 1 ok flags 1]",
        "file write: ok, 1 event(s) [41 type 2 ok flags 0]",
        "past realtime deadline: ok, 1 event(s) [52 type 0 ok]",
        "past monotonic deadline: ok, 1 event(s) [61 type 0 ok]",
        "stdout write: ok, 1 event(s) [71 type 2 ok flags 0]",
        "directory read: EBADF",
        "closed fd: EBADF",
        "cpu-time clock: EINVAL",
        "no subscriptions: EINVAL",
    ] {
        assert!(run.strata.stdout.contains(line), "missing {line:?}");
    }
}

/// What Strata reports beyond wasmtime-wasi: `nbytes` of a file read is
/// what is left from the cursor, of a file write what one write moves; and
/// everything ready at once is reported together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_oneoff_reports_bytes_left_in_a_file() {
    let Some(path) = guest("p1calls") else { return };
    let (fork, _dir) = Differential::setup().await;
    let module = common::guest::module(&path);
    let run = run_p1_on_strata(
        &module,
        fork,
        FsPerms::ReadWrite,
        &["p1calls", "/", "poll-nbytes"],
    )
    .await;
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "relative clock: ok, 1 event(s) [11 type 0 ok]\n\
         slept at least 20 ms: yes\n\
         file read, far clock: ok, 1 event(s) [22 type 1 ok flags 0 nbytes 6]\n\
         file read at end: ok, 1 event(s) [31 type 1 ok flags 1 nbytes 0]\n\
         file write: ok, 1 event(s) [41 type 2 ok flags 0 nbytes 16777216]\n\
         past realtime deadline: ok, 1 event(s) [52 type 0 ok]\n\
         past monotonic deadline: ok, 1 event(s) [61 type 0 ok]\n\
         stdout write: ok, 1 event(s) [71 type 2 ok flags 0 nbytes 1]\n\
         directory read: EBADF, 0 event(s)\n\
         closed fd: EBADF, 0 event(s)\n\
         cpu-time clock: EINVAL, 0 event(s)\n\
         no subscriptions: EINVAL, 0 event(s)\n\
         all at once: ok, 3 event(s) [111 type 0 ok] [112 type 1 ok flags 0 nbytes 3] \
         [114 type 2 ok flags 0 nbytes 16777216]\n\
         done\n"
    );
}

/// `fd_readdir` cookies resume after the name they were handed out with:
/// entries added and removed around a cookie neither shift nor repeat the
/// listing, and deleting each entry as it is listed empties the directory.
/// (On wasmtime-wasi a cookie counts entries, and the same guest skips.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fd_readdir_cookies_survive_entries_coming_and_going() {
    let Some(path) = guest("p1calls") else { return };
    let (fork, _dir) = Differential::setup().await;
    let module = common::guest::module(&path);
    let run = run_p1_on_strata(
        &module,
        fork,
        FsPerms::ReadWrite,
        &["p1calls", "/", "readdir"],
    )
    .await;
    assert!(run.ok, "{}", run.stderr);
    // `0` and `bb` are made after the first listing, `a` and `c` removed.
    assert_eq!(
        run.stdout,
        "all (from 0): ok .@1 ..@2 a@3 b@4\n\
         after b, changed (from 4): ok bb@5 d@6 e@7 z@8\n\
         after a (gone) (from 3): ok b@4 bb@5 d@6 e@7 z@8\n\
         deleting while listing: . .. 0 b bb d e z\n\
         rmdir rd: ok\n\
         done\n"
    );
}

/// p1 edge cases called directly — empty and huge iovec arrays, huge poll
/// counts and clock deadlines, append-mode `pwrite`, calls on directories
/// and stdio, renumbering a preopen — answer as wasmtime-wasi's p1 does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_edge_cases_match_wasmtime_wasi() {
    let Some(path) = guest("p1edges") else { return };
    let run = Differential::p1(&path, &["p1edges", "/", "edges"]).await;
    assert!(run.strata.stdout.contains("append pwrite at 0: 0 n=2"));
    run.assert_same_trees().await;
}

/// `guests/c/p1edges.c` run on an empty fork with these arguments; its
/// output, having checked it ran to the end.
async fn p1edges_on_strata(path: &Path, args: &[&str]) -> String {
    let (fork, _dir) = Differential::setup().await;
    let module = common::guest::module(path);
    let run = run_p1_on_strata(&module, fork, FsPerms::ReadWrite, args).await;
    assert!(run.ok, "{}", run.stderr);
    run.stdout
}

/// A `telldir` position saved early in a long listing still resumes after
/// its entry once the listing went on and entries before it were removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_readdir_cookie_resumes_by_name_after_a_long_listing() {
    let Some(path) = guest("p1edges") else { return };
    let out = p1edges_on_strata(&path, &["p1edges", "/", "seekdir", "5000"]).await;
    assert!(out.contains("seekdir(saved) resumes at: f00010"), "{out}");
}

/// A listing that deletes each entry as it lists it and asks again, with
/// the previous cookie, for an entry too big for its buffer (as wasi-libc
/// and Rust std do) empties the directory however long it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_asked_readdir_cookie_is_never_forgotten_mid_listing() {
    let Some(path) = guest("p1edges") else { return };
    let out = p1edges_on_strata(&path, &["p1edges", "/", "retry", "4095"]).await;
    assert!(out.contains("retried 1, rmdir: ok"), "{out}");
}

/// The guests of `benches/mutations.rs` do on Strata what they do on
/// wasmtime-wasi's host filesystem, and in Rust what they do in C: every
/// operation a few times in a directory of 10 files, then the tree
/// workloads. Their transcripts (without the timings) and what they leave
/// must be the same; nothing is timed here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutation_bench_guests_match_wasmtime_wasi() {
    let (Some(rust), Some(c)) = (guest("mutations_std"), guest("mutations")) else {
        return;
    };
    let steps = [
        "prepare 10 0",
        "create 10 3",
        "overwrite 10 3",
        "append 10 3",
        "rename 10 13",
        "mkdir 10 3",
        "rmdir 10 3",
        "unlink 10 3",
        "read 10 3",
        "stat 10 3",
        "readdir 10 3",
        "unpack 150 2",
        "remove 150 2",
        "timer 10 3",
    ];
    let mut transcripts = Vec::new();
    for path in [rust, c] {
        let module = common::guest::module(&path);
        let (fork, dir) = Differential::setup().await;
        let mut transcript = String::new();
        let mut last = None;
        for step in steps {
            let (op, n_k) = step.split_once(' ').unwrap();
            let (n, k) = n_k.split_once(' ').unwrap();
            let args = ["mutations", op, "/d", n, k];
            let strata = run_p1_on_strata(&module, fork.clone(), FsPerms::ReadWrite, &args).await;
            let host = run_p1_on_host(&module, dir.path(), &args).await;
            assert!(host.ok, "{step}: reference run failed: {}", host.stderr);
            assert!(strata.ok, "{step}: strata run failed: {}", strata.stderr);
            let (said, time) = strata.stdout.rsplit_once("ns ").expect("a time");
            assert!(time.trim_end().parse::<u64>().is_ok(), "{step}: {time:?}");
            assert_eq!(said, host.stdout.rsplit_once("ns ").unwrap().0, "{step}");
            transcript += said;
            last = Some(strata);
        }
        let run = Differential {
            fork,
            dir,
            strata: last.unwrap(),
        };
        let left = run.assert_same_trees().await;
        assert_eq!(left.len(), 11, "the directory of 10 files: {left:?}");
        transcripts.push(transcript);
    }
    assert_eq!(transcripts[0], transcripts[1], "Rust and C");
    assert!(transcripts[0].contains("readdir 10 3: 30 entries\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p3_guest_matches_wasmtime_wasi_p3_line_for_line() {
    let Some(path) = common::guest::p2_guest("p3fs") else {
        return;
    };
    let component = common::guest::p3_component(&path);
    let run = Differential::p3(&component, &["p3fs"]).await;
    for line in [
        "write-via-stream: ok",
        "stat after write: regular-file size 11 links 1",
        "r1 read 5: 5 \"hello\"",
        "r2 read 5: 5 \"world\"",
        "r1 read 1 (own cursor): 1 \" \"",
        "r1 dropped early: ok",
        "read big.bin from 100: 204700 bytes, equal 1",
        "pipe big.bin from 100 into copy.bin: write: ok",
        "copy.bin: 204700 bytes, equal 1",
        "list many: 300 entries, distinct 1",
        "stat-at loop1 (follow): err loop",
    ] {
        assert!(run.strata.stdout.contains(line), "missing {line:?}");
    }
    run.assert_same_trees().await;
    // Streams dropped early, streams run to their end, descriptors: once
    // the guest's store is gone, nothing it opened is still held (a
    // stream kept alive elsewhere, e.g. by a task, would be).
    assert_eq!(run.fork.usage().await.unwrap().open, 0, "handles leaked");
}

/// Under a read-only preopen a p3 guest is refused every change, with the
/// codes and in the order wasmtime-wasi's p3 gives them, and still reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_preopen_refuses_p3_writes_like_wasmtime_wasi() {
    let Some(path) = common::guest::p2_guest("p3fs") else {
        return;
    };
    let component = common::guest::p3_component(&path);
    let base = MemBase::builder()
        .file("existing.txt", &b"read me"[..])
        .build();
    let vfs = VfsBuilder::new().image(base).spawn();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("existing.txt"), b"read me").unwrap();
    let args = ["p3fs", "readonly"];
    let strata =
        common::guest::run_p3_on_strata(&component, vfs.root(), FsPerms::ReadOnly, &args).await;
    let host =
        common::guest::run_p3_on_host_with(&component, dir.path(), FsPerms::ReadOnly, &args).await;
    assert!(strata.ok && host.ok, "{}{}", strata.stderr, host.stderr);
    assert_eq!(strata.stdout, host.stdout);
    assert!(
        strata.stdout.contains("read existing.txt: \"read me\""),
        "{}",
        strata.stdout
    );
    assert!(
        strata.stdout.contains("create new.txt: err not-permitted"),
        "{}",
        strata.stdout
    );
}

/// A backend whose file data (chunks) arrives only once the test opens the
/// gate; names and metadata come at once.
struct Gated {
    inner: MemBase,
    gate: std::sync::Arc<tokio::sync::Semaphore>,
}

impl strata::actor::Backend for Gated {
    fn root(&self) -> strata::fs::Ino {
        strata::actor::Backend::root(&self.inner)
    }

    fn fetch(
        &self,
        need: &strata::fs::Need,
    ) -> futures::future::BoxFuture<'static, Result<strata::fs::Loaded, strata::fs::Errno>> {
        let answer = strata::actor::Backend::fetch(&self.inner, need);
        let gate = matches!(need, strata::fs::Need::Chunk(..)).then(|| self.gate.clone());
        Box::pin(async move {
            if let Some(gate) = gate {
                let _open = gate.acquire().await;
            }
            answer.await
        })
    }
}

/// A p3 read waiting for its data holds neither the thread nor the other
/// guests: on one current-thread runtime, a second guest runs from start
/// to end while the first one's read is pending, and only then is the data
/// let through. (The runtime runs on a thread of its own, so a read that
/// blocked the thread fails the test by its timeout instead of hanging it.)
#[test]
fn a_p3_read_waiting_for_its_data_lets_another_guest_run() {
    let Some(path) = common::guest::p2_guest("p3fs") else {
        return;
    };
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = done.send(rt.block_on(async move {
            let component = common::guest::p3_component(&path);
            let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
            let base = MemBase::builder()
                .file("data/slow.txt", &b"worth the wait"[..])
                .build();
            let slow = VfsBuilder::new()
                .backend(Gated {
                    inner: base,
                    gate: gate.clone(),
                })
                .spawn();
            let fast = VfsBuilder::new().spawn().root().fork().await.unwrap();
            let waiting = tokio::spawn({
                let component = component.clone();
                async move {
                    common::guest::run_p3_on_strata(
                        &component,
                        slow.root(),
                        FsPerms::ReadOnly,
                        &["p3fs"],
                    )
                    .await
                }
            });
            let other =
                common::guest::run_p3_on_strata(&component, fast, FsPerms::ReadWrite, &["p3fs"])
                    .await;
            let still_waiting = !waiting.is_finished();
            gate.add_permits(usize::MAX >> 4);
            (waiting.await.unwrap(), other, still_waiting)
        }));
    });
    let (waiting, other, still_waiting) = finished
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the guests hung: a read held the thread?");
    assert!(waiting.ok && other.ok, "{}{}", waiting.stderr, other.stderr);
    assert!(other.stdout.ends_with("done\n"));
    assert!(still_waiting, "the slow guest did not wait for its data");
    assert_eq!(
        waiting.stdout,
        "slow read: \"worth the wait\"\nslow read: ok\ndone\n"
    );
}

/// A p3 read whose data never comes can be cancelled: the guest's cancel
/// returns, the stream's outcome resolves, and nothing stays open after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_p3_read_resolves_and_leaves_nothing_open() {
    let Some(path) = common::guest::p2_guest("p3fs") else {
        return;
    };
    let component = common::guest::p3_component(&path);
    let base = MemBase::builder()
        .file("data/slow.txt", &b"never read"[..])
        .build();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let vfs = VfsBuilder::new()
        .backend(Gated { inner: base, gate })
        .spawn();
    let run = common::guest::run_p3_on_strata(
        &component,
        vfs.root(),
        FsPerms::ReadOnly,
        &["p3fs", "cancel"],
    )
    .await;
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "read: blocked\ncancel: cancelled, 0 bytes\ncancelled read: ok\ndone\n"
    );
    assert_eq!(vfs.root().usage().await.unwrap().open, 0, "handles leaked");
}

/// A p3 listing goes on while entries come and go: it resumes after the
/// last name it gave, so nothing comes twice, a name added after the
/// cursor comes, one added before it does not, and names removed before
/// they were reached (and not yet fetched) do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p3_listing_while_entries_change_gives_each_name_at_most_once() {
    let Some(path) = common::guest::p2_guest("p3fs") else {
        return;
    };
    let component = common::guest::p3_component(&path);
    let fork = VfsBuilder::new().spawn().root().fork().await.unwrap();
    let run = common::guest::run_p3_on_strata(
        &component,
        fork,
        FsPerms::ReadWrite,
        &["p3fs", "changing"],
    )
    .await;
    assert!(run.ok, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "0 twice, added before the cursor 0, after 1, removed ones after the change 0\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("listing while changing: ok"));
}

/// `Limits` reach p3 guests as error codes: a write past the fork's room
/// fails whole in its stream's outcome (nothing of it counts as written,
/// as under wasmtime-wasi a failed write takes nothing), an open past the
/// handle limit fails with `quota`, and the rest of the program goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p3_guests_past_the_limits_get_insufficient_space_and_quota() {
    let Some(path) = common::guest::p2_guest("p3fs") else {
        return;
    };
    let component = common::guest::p3_component(&path);
    let limits = strata::fs::Limits {
        max_bytes: 64 << 10,
        ..Default::default()
    };
    let vfs = VfsBuilder::new()
        .image(MemBase::empty())
        .limits(limits)
        .spawn();
    let fork = vfs.root().fork().await.unwrap();
    let run =
        common::guest::run_p3_on_strata(&component, fork, FsPerms::ReadWrite, &["p3fs"]).await;
    assert!(run.ok, "{}", run.stderr);
    for line in [
        "write-via-stream: ok",
        "write big.bin: wrote 0",
        "write big.bin: err insufficient-space",
        "read big.bin from 100: 0 bytes, equal 0",
        "done",
    ] {
        assert!(
            run.stdout.contains(line),
            "missing {line:?} in\n{}",
            run.stdout
        );
    }

    // Out of handles: `quota` (0.3 has no `EMFILE`), and the guest goes on.
    let limits = strata::fs::Limits {
        max_open: 3,
        ..Default::default()
    };
    let vfs = VfsBuilder::new()
        .image(MemBase::empty())
        .limits(limits)
        .spawn();
    let fork = vfs.root().fork().await.unwrap();
    let run =
        common::guest::run_p3_on_strata(&component, fork, FsPerms::ReadWrite, &["p3fs"]).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.contains(": err quota\n"), "{}", run.stdout);
    assert!(run.stdout.ends_with("done\n"));
}
