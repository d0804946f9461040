//! Integration tests of the core's public surface: confinement, forks,
//! diff and commit, limits, open-but-unlinked files, chunk sharing.

use std::sync::Arc;

use strata::fs::{
    Budget, CHUNK_SIZE, Change, ChangeKind, CommitError, Errno, ForkId, Ino, Kind, Limits,
    ManualClock, MemBase, OpenFlags, SetTime, Timestamp, Vfs,
};

fn base() -> MemBase {
    MemBase::builder()
        .file("etc/passwd", &b"root:x:0:0"[..])
        .file("home/user/notes.txt", &b"remember"[..])
        .symlink("home/user/escape", "../../..")
        .symlink("home/user/abs", "/etc/passwd")
        .symlink("home/user/loop", "loop")
        .symlink("home/user/up", "..")
        .dir("tmp")
        .build()
}

fn vfs() -> (Vfs, Ino) {
    let mut vfs = Vfs::new(Arc::new(base()));
    let root = vfs.open_root(ForkId::ROOT).unwrap();
    (vfs, root)
}

const CREATE: OpenFlags = OpenFlags {
    create: true,
    directory: false,
    exclusive: false,
    truncate: false,
};

/// An empty filesystem held to `limits`, on a clock that stands still, and
/// its root fork's root directory.
fn empty_with(limits: Limits) -> (Vfs, Ino) {
    let mut vfs = Vfs::with(
        Arc::new(MemBase::empty()),
        limits,
        Arc::new(ManualClock::default()),
    );
    let root = vfs.open_root(ForkId::ROOT).unwrap();
    (vfs, root)
}

fn err<T: std::fmt::Debug>(r: strata::fs::Result<T>) -> Errno {
    r.unwrap_err().errno().expect("an errno")
}

#[test]
fn paths_cannot_leave_their_starting_directory() {
    let (mut vfs, root) = vfs();
    let f = ForkId::ROOT;
    let (home, _) = vfs
        .open_at(f, root, "home", true, OpenFlags::default(), false)
        .unwrap();
    for path in [
        "..",
        "../..",
        "user/../../x",
        "/etc/passwd",
        "user/escape",
        "user/escape/etc",
        "user/abs",
        "user/up/..",
        "./../home",
    ] {
        assert_eq!(
            err(vfs.open_at(f, home, path, true, OpenFlags::default(), false)),
            Errno::NotPermitted,
            "open {path}"
        );
        assert_eq!(
            err(vfs.stat_at(f, home, path, true)),
            Errno::NotPermitted,
            "stat {path}"
        );
    }
    // Creating through an escape is refused as well, and creates nothing.
    assert_eq!(err(vfs.create_dir_at(f, home, "../x")), Errno::NotPermitted);
    assert_eq!(
        err(vfs.open_at(f, home, "user/escape/new", true, CREATE, true)),
        Errno::NotPermitted
    );
    assert_eq!(
        err(vfs.rename_at(f, home, "user/notes.txt", home, "../stolen")),
        Errno::NotPermitted
    );
    assert_eq!(
        err(vfs.link_at(f, home, "user/notes.txt", home, "/stolen")),
        Errno::NotPermitted
    );
    assert_eq!(
        err(vfs.symlink_at(f, "/etc/passwd", home, "new-abs")),
        Errno::NotPermitted
    );
    assert_eq!(
        err(vfs.readlink_at(f, home, "user/abs")),
        Errno::NotPermitted
    );
    assert_eq!(
        err(vfs.open_at(f, home, "user/loop", true, OpenFlags::default(), false)),
        Errno::Loop
    );
    assert!(vfs.diff(f).unwrap().is_empty(), "nothing changed");
    // Inside the starting directory `..` is fine; not following a symlink never escapes.
    assert_eq!(
        vfs.stat_at(f, home, "user/up/user/notes.txt", true)
            .unwrap()
            .size,
        8
    );
    assert_eq!(
        vfs.stat_at(f, home, "user/../user/notes.txt", true)
            .unwrap()
            .size,
        8
    );
    assert_eq!(
        vfs.stat_at(f, home, "user/escape", false).unwrap().kind,
        Kind::Symlink
    );
    // The preopen itself can reach everything below it.
    assert_eq!(
        vfs.read_file(f, "home/user/notes.txt").unwrap(),
        b"remember"
    );
}

#[test]
fn overlay_whiteouts_and_merged_listing() {
    let (mut vfs, root) = vfs();
    let f = ForkId::ROOT;
    vfs.unlink_file_at(f, root, "etc/passwd").unwrap();
    vfs.write_file(f, "etc/hosts", b"127.0.0.1 localhost")
        .unwrap();
    let (etc, _) = vfs
        .open_at(f, root, "etc", true, OpenFlags::default(), false)
        .unwrap();
    let names: Vec<_> = vfs
        .read_dir(f, etc, None, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, vec!["hosts".into()] as Vec<strata::fs::Name>);
    assert_eq!(
        err(vfs.stat_at(f, root, "etc/passwd", true)),
        Errno::NoEntry
    );
    // Recreating a deleted base name gives a new, empty file.
    vfs.open_at(f, root, "etc/passwd", true, CREATE, true)
        .unwrap();
    assert_eq!(vfs.read_file(f, "etc/passwd").unwrap(), b"");
    // A listing resumed after a name is stable while entries come and go.
    let (tmp, _) = vfs
        .open_at(f, root, "tmp", true, OpenFlags::default(), false)
        .unwrap();
    for name in ["a", "c", "e"] {
        vfs.open_at(f, tmp, name, true, CREATE, true).unwrap();
    }
    let first = vfs.read_dir(f, tmp, None, 1).unwrap();
    assert_eq!(&*first[0].name, "a");
    vfs.open_at(f, tmp, "b", true, CREATE, true).unwrap();
    vfs.unlink_file_at(f, tmp, "c").unwrap();
    vfs.open_at(f, tmp, "d", true, CREATE, true).unwrap();
    let rest: Vec<_> = vfs
        .read_dir(f, tmp, Some("a"), 100)
        .unwrap()
        .into_iter()
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(rest, ["b", "d", "e"]);
}

#[test]
fn removing_a_directory_needs_it_empty_counting_base_entries() {
    let (mut vfs, root) = vfs();
    let f = ForkId::ROOT;
    assert_eq!(
        err(vfs.remove_dir_at(f, root, "home/user")),
        Errno::NotEmpty
    );
    for name in ["notes.txt", "escape", "abs", "loop", "up"] {
        vfs.unlink_file_at(f, root, &format!("home/user/{name}"))
            .unwrap();
    }
    vfs.remove_dir_at(f, root, "home/user").unwrap();
    assert_eq!(vfs.stat_at(f, root, "home", true).unwrap().nlink, 2);
    assert_eq!(err(vfs.stat_at(f, root, "home/user", true)), Errno::NoEntry);
}

#[test]
fn forks_are_isolated_and_diff_reports_what_changed() {
    let (mut vfs, root) = vfs();
    let child = vfs.fork(ForkId::ROOT).unwrap();
    vfs.write_file(child, "home/user/notes.txt", b"forgot")
        .unwrap();
    vfs.write_file(child, "tmp/new", b"fresh").unwrap();
    vfs.unlink_file_at(child, root, "etc/passwd").unwrap();
    vfs.rename_at(child, root, "home/user", root, "home/someone")
        .unwrap();
    assert_eq!(
        vfs.read_file(ForkId::ROOT, "home/user/notes.txt").unwrap(),
        b"remember"
    );
    assert_eq!(
        vfs.read_file(child, "home/someone/notes.txt").unwrap(),
        b"forgot"
    );
    let diff: Vec<(String, ChangeKind)> = vfs
        .diff(child)
        .unwrap()
        .into_iter()
        .map(|c| (c.path, c.kind))
        .collect();
    use ChangeKind::*;
    let want: Vec<(String, ChangeKind)> = [
        ("/etc/passwd", Deleted),
        ("/home/someone", Created),
        ("/home/someone/abs", Created),
        ("/home/someone/escape", Created),
        ("/home/someone/loop", Created),
        ("/home/someone/notes.txt", Created),
        ("/home/someone/up", Created),
        ("/home/user", Deleted),
        ("/home/user/abs", Deleted),
        ("/home/user/escape", Deleted),
        ("/home/user/loop", Deleted),
        ("/home/user/notes.txt", Deleted),
        ("/home/user/up", Deleted),
        ("/tmp/new", Created),
    ]
    .into_iter()
    .map(|(p, k)| (p.to_string(), k))
    .collect();
    assert_eq!(diff, want);
    assert!(vfs.diff(ForkId::ROOT).unwrap().is_empty());
    // Discarding throws it all away.
    vfs.discard(child).unwrap();
    assert_eq!(err(vfs.diff(child)), Errno::BadDescriptor);
    assert_eq!(
        vfs.read_file(ForkId::ROOT, "etc/passwd").unwrap(),
        b"root:x:0:0"
    );
}

#[test]
fn commit_applies_a_fork_and_merges_independent_changes() {
    let (mut vfs, _) = vfs();
    let a = vfs.fork(ForkId::ROOT).unwrap();
    let b = vfs.fork(ForkId::ROOT).unwrap();
    vfs.write_file(a, "tmp/from-a", b"A").unwrap();
    vfs.write_file(a, "etc/passwd", b"changed by a").unwrap();
    vfs.write_file(b, "tmp/from-b", b"B").unwrap();
    vfs.commit(a).unwrap();
    assert_eq!(vfs.read_file(ForkId::ROOT, "tmp/from-a").unwrap(), b"A");
    // b forked before a's commit; its changes touch other paths: they merge.
    vfs.commit(b).unwrap();
    assert_eq!(vfs.read_file(ForkId::ROOT, "tmp/from-a").unwrap(), b"A");
    assert_eq!(vfs.read_file(ForkId::ROOT, "tmp/from-b").unwrap(), b"B");
    assert_eq!(
        vfs.read_file(ForkId::ROOT, "etc/passwd").unwrap(),
        b"changed by a"
    );
    assert_eq!(vfs.forks(), vec![ForkId::ROOT]);
}

#[test]
fn commit_refuses_conflicting_changes_and_applies_nothing() {
    let (mut vfs, _) = vfs();
    let a = vfs.fork(ForkId::ROOT).unwrap();
    let b = vfs.fork(ForkId::ROOT).unwrap();
    vfs.write_file(a, "home/user/notes.txt", b"a's notes")
        .unwrap();
    vfs.write_file(b, "home/user/notes.txt", b"b's notes")
        .unwrap();
    vfs.write_file(b, "tmp/only-b", b"B").unwrap();
    vfs.commit(a).unwrap();
    match vfs.commit(b) {
        Err(CommitError::Conflict(paths)) => assert_eq!(paths, ["/home/user/notes.txt"]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        vfs.read_file(ForkId::ROOT, "home/user/notes.txt").unwrap(),
        b"a's notes"
    );
    assert_eq!(
        err(vfs.read_file(ForkId::ROOT, "tmp/only-b")),
        Errno::NoEntry
    );
    // The refused fork is intact and can still be read or discarded.
    assert_eq!(vfs.read_file(b, "tmp/only-b").unwrap(), b"B");
    // Same name created on both sides is a conflict too.
    let c = vfs.fork(ForkId::ROOT).unwrap();
    let d = vfs.fork(ForkId::ROOT).unwrap();
    vfs.write_file(c, "tmp/same", b"c").unwrap();
    vfs.write_file(d, "tmp/same", b"d").unwrap();
    vfs.commit(c).unwrap();
    assert!(matches!(vfs.commit(d), Err(CommitError::Conflict(p)) if p == ["/tmp/same"]));
    // A fork deleted a directory the other fork wrote into.
    let e = vfs.fork(ForkId::ROOT).unwrap();
    let g = vfs.fork(ForkId::ROOT).unwrap();
    let root = vfs.open_root(e).unwrap();
    vfs.unlink_file_at(e, root, "etc/passwd").unwrap();
    vfs.remove_dir_at(e, root, "etc").unwrap();
    vfs.write_file(g, "etc/new", b"g").unwrap();
    vfs.commit(e).unwrap();
    assert!(matches!(vfs.commit(g), Err(CommitError::Conflict(p)) if p == ["/etc", "/etc/new"]));
    // And the other way round: a fork deletes a directory the parent wrote into.
    let h = vfs.fork(ForkId::ROOT).unwrap();
    let root = vfs.open_root(h).unwrap();
    vfs.write_file(ForkId::ROOT, "home/user/notes.txt", b"parent wrote")
        .unwrap();
    for name in ["notes.txt", "escape", "abs", "loop", "up"] {
        vfs.unlink_file_at(h, root, &format!("home/user/{name}"))
            .unwrap();
    }
    vfs.remove_dir_at(h, root, "home/user").unwrap();
    match vfs.commit(h) {
        Err(CommitError::Conflict(p)) => {
            assert!(p.contains(&"/home/user/notes.txt".to_string()), "{p:?}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        vfs.read_file(ForkId::ROOT, "home/user/notes.txt").unwrap(),
        b"parent wrote"
    );
}

#[test]
fn fork_tree_rules() {
    let (mut vfs, _) = vfs();
    let a = vfs.fork(ForkId::ROOT).unwrap();
    let aa = vfs.fork(a).unwrap();
    vfs.write_file(aa, "tmp/deep", b"x").unwrap();
    assert_eq!(vfs.commit(a), Err(CommitError::Failed(Errno::Busy.into())));
    assert_eq!(err(vfs.discard(a)), Errno::Busy);
    assert_eq!(
        vfs.commit(ForkId::ROOT),
        Err(CommitError::Failed(Errno::NotPermitted.into()))
    );
    vfs.commit(aa).unwrap();
    assert_eq!(vfs.read_file(a, "tmp/deep").unwrap(), b"x");
    assert!(vfs.read_file(ForkId::ROOT, "tmp/deep").is_err());
    let diff = vfs.diff(a).unwrap();
    assert_eq!(
        diff,
        [Change {
            path: "/tmp/deep".into(),
            kind: ChangeKind::Created,
            node: Kind::File
        }]
    );
    vfs.commit(a).unwrap();
    assert_eq!(vfs.read_file(ForkId::ROOT, "tmp/deep").unwrap(), b"x");
}

#[test]
fn an_unlinked_file_lives_while_open_and_goes_with_its_last_handle() {
    let (mut vfs, root) = vfs();
    let f = ForkId::ROOT;
    let (ino, _) = vfs
        .open_at(f, root, "tmp/scratch", true, CREATE, true)
        .unwrap();
    vfs.write(f, ino, 0, &[7u8; 1000]).unwrap();
    vfs.unlink_file_at(f, root, "tmp/scratch").unwrap();
    assert_eq!(vfs.stat(f, ino).unwrap().nlink, 0);
    assert_eq!(vfs.read(f, ino, 0, 10).unwrap().concat(), [7u8; 10]);
    assert_eq!(vfs.usage(f).unwrap().bytes, 1000);
    vfs.release(f, ino);
    assert_eq!(vfs.usage(f).unwrap().bytes, 0);
    assert_eq!(vfs.usage(f).unwrap().inodes, 0);
}

#[test]
fn deferred_orphans_wait_for_the_sweep_and_a_handle_taken_meanwhile_keeps_them() {
    let (mut vfs, root) = vfs();
    vfs.defer_orphan_drops();
    let f = ForkId::ROOT;
    for name in ["tmp/a", "tmp/b"] {
        vfs.write_file(f, name, &[1u8; 100]).unwrap();
    }
    let a = vfs.stat_at(f, root, "tmp/a", true).unwrap().ino;
    let b = vfs.stat_at(f, root, "tmp/b", true).unwrap().ino;
    vfs.unlink_file_at(f, root, "tmp/a").unwrap();
    vfs.unlink_file_at(f, root, "tmp/b").unwrap();
    // Nobody holds either, yet both wait for the sweep.
    assert!(vfs.has_unheld_orphans());
    assert_eq!(vfs.usage(f).unwrap().bytes, 200);
    // A handle that arrives late (taken on an older snapshot) still finds `a`.
    vfs.retain(f, a).unwrap();
    assert_eq!(vfs.drop_unheld_orphans(), vec![f]);
    assert!(!vfs.has_unheld_orphans());
    assert_eq!(vfs.read(f, a, 0, 100).unwrap().concat(), [1u8; 100]);
    assert!(vfs.stat(f, b).is_err());
    assert_eq!(vfs.usage(f).unwrap().bytes, 100);
    // Its last handle makes it wait for the next sweep, not go at once.
    assert!(vfs.release(f, a));
    assert!(!vfs.release(f, a));
    assert_eq!(vfs.usage(f).unwrap().bytes, 100);
    assert_eq!(vfs.drop_unheld_orphans(), vec![f]);
    assert_eq!(vfs.usage(f).unwrap().bytes, 0);
}

#[test]
fn limits_are_enforced_before_allocating() {
    let limits = Limits {
        max_bytes: 100_000,
        max_inodes: 3,
        max_file_size: 1 << 20,
        max_name_len: 8,
        max_path_len: 64,
        max_io: 4096,
        max_open: 4,
        ..Limits::default()
    };
    let (mut vfs, root) = empty_with(limits);
    let f = ForkId::ROOT;
    let (file, _) = vfs.open_at(f, root, "f", true, CREATE, true).unwrap();
    // A single write is cut at max_io: a short write, not an error.
    assert_eq!(vfs.write(f, file, 0, &[1u8; 10_000]).unwrap(), 4096);
    // Growing past max_file_size is refused, however it is tried.
    assert_eq!(err(vfs.write(f, file, 1 << 20, b"x")), Errno::FileTooLarge);
    assert_eq!(
        err(vfs.write(f, file, u64::MAX - 1, b"xy")),
        Errno::FileTooLarge
    );
    assert_eq!(
        err(vfs.set_size(f, file, (1 << 20) + 1)),
        Errno::FileTooLarge
    );
    // A sparse file as large as allowed costs nothing.
    vfs.set_size(f, file, 1 << 20).unwrap();
    assert_eq!(vfs.usage(f).unwrap().bytes, 4096);
    // Zero-filling is cut at max_io and stores nothing for whole chunks.
    assert_eq!(vfs.write_zeroes(f, file, 0, u64::MAX).unwrap(), 4096);
    assert_eq!(vfs.usage(f).unwrap().bytes, 0);
    // The byte quota.
    for i in 0..24 {
        vfs.write(f, file, i * 4096, &[2u8; 4096]).unwrap();
    }
    assert_eq!(
        err(vfs.write(f, file, 24 * 4096, &[2u8; 4096])),
        Errno::InsufficientSpace
    );
    assert_eq!(vfs.usage(f).unwrap().bytes, 24 * 4096);
    // The inode quota.
    vfs.create_dir_at(f, root, "d").unwrap();
    vfs.symlink_at(f, "d", root, "l").unwrap();
    assert_eq!(
        err(vfs.create_dir_at(f, root, "e")),
        Errno::InsufficientSpace
    );
    // Names and paths.
    vfs.unlink_file_at(f, root, "l").unwrap();
    assert_eq!(
        err(vfs.create_dir_at(f, root, "123456789")),
        Errno::NameTooLong
    );
    assert_eq!(
        err(vfs.stat_at(f, root, &"d/".repeat(40), true)),
        Errno::NameTooLong
    );
    // Open handles.
    for _ in 0..2 {
        vfs.open_at(f, root, "d", true, OpenFlags::default(), false)
            .unwrap();
    }
    assert_eq!(
        err(vfs.open_at(f, root, "d", true, OpenFlags::default(), false)),
        Errno::TooManyOpen
    );
    assert_eq!(vfs.open_handles(f).unwrap(), 4);
}

#[test]
fn timestamps_come_from_the_injected_clock() {
    let clock = Arc::new(ManualClock::new(Timestamp::new(1_000, 0).unwrap()));
    let mut vfs = Vfs::with(Arc::new(MemBase::empty()), Limits::default(), clock.clone());
    let f = ForkId::ROOT;
    let root = vfs.open_root(f).unwrap();
    let (file, _) = vfs.open_at(f, root, "f", true, CREATE, true).unwrap();
    clock.advance(5_000_000_000);
    vfs.write(f, file, 0, b"x").unwrap();
    let stat = vfs.stat(f, file).unwrap();
    assert_eq!(stat.atime, Timestamp::new(1_000, 0).unwrap());
    assert_eq!(stat.mtime, Timestamp::new(1_005, 0).unwrap());
    let at = Timestamp::new(42, 7).unwrap();
    vfs.set_times_at(f, root, "f", true, SetTime::At(at), SetTime::Keep)
        .unwrap();
    let stat = vfs.stat(f, file).unwrap();
    assert_eq!(
        (stat.atime, stat.mtime, stat.ctime),
        (
            at,
            Timestamp::new(1_005, 0).unwrap(),
            Timestamp::new(1_005, 0).unwrap()
        )
    );
    assert_eq!(
        vfs.stat(f, root).unwrap().mtime,
        Timestamp::new(1_000, 0).unwrap()
    );
}

#[test]
fn a_one_byte_write_in_a_fork_shares_every_other_chunk() {
    let mut vfs = Vfs::new(Arc::new(MemBase::empty()));
    let chunk = vec![0x5Au8; CHUNK_SIZE as usize];
    let root = vfs.open_root(ForkId::ROOT).unwrap();
    let (file, _) = vfs
        .open_at(ForkId::ROOT, root, "big", true, CREATE, true)
        .unwrap();
    for i in 0..1024 {
        vfs.write(ForkId::ROOT, file, i * CHUNK_SIZE, &chunk)
            .unwrap();
    }
    assert_eq!(vfs.stat(ForkId::ROOT, file).unwrap().size, 64 << 20);
    let child = vfs.fork(ForkId::ROOT).unwrap();
    vfs.write(child, file, 5 * CHUNK_SIZE + 1, b"!").unwrap();
    let chunk_ptr =
        |fork, i: u64| vfs.read(fork, file, i * CHUNK_SIZE, CHUNK_SIZE).unwrap()[0].as_ptr();
    let differing: Vec<u64> = (0..1024)
        .filter(|&i| chunk_ptr(ForkId::ROOT, i) != chunk_ptr(child, i))
        .collect();
    assert_eq!(differing, [5]);
    assert_eq!(
        vfs.read(ForkId::ROOT, file, 5 * CHUNK_SIZE + 1, 1)
            .unwrap()
            .concat(),
        [0x5A]
    );
    assert_eq!(
        vfs.read(child, file, 5 * CHUNK_SIZE + 1, 1)
            .unwrap()
            .concat(),
        *b"!"
    );
}

#[test]
fn a_snapshot_stays_current_until_the_tree_changes() {
    let (mut vfs, root) = vfs();
    let f = ForkId::ROOT;
    let snapshot = vfs.snapshot(f).unwrap();
    // Opening and closing handles changes nothing a reader can see.
    let (file, _) = vfs
        .open_at(f, root, "etc/passwd", true, OpenFlags::default(), true)
        .unwrap();
    assert!(vfs.is_current(f, &snapshot));
    // A failed operation leaves the tree as it was.
    assert_eq!(err(vfs.create_dir_at(f, root, "etc")), Errno::Exist);
    assert!(vfs.is_current(f, &snapshot));
    vfs.write(f, file, 0, b"x").unwrap();
    assert!(!vfs.is_current(f, &snapshot));

    let snapshot = vfs.snapshot(f).unwrap();
    vfs.unlink_file_at(f, root, "etc/passwd").unwrap();
    assert!(!vfs.is_current(f, &snapshot));
    // Closing the last handle on an unlinked file frees it: a change too.
    let snapshot = vfs.snapshot(f).unwrap();
    vfs.release(f, file);
    assert!(!vfs.is_current(f, &snapshot));
}

/// An empty filesystem whose forks may hold together, beyond what each
/// inherited, at most `budget`; and its root fork's root directory.
fn with_budget(budget: Budget) -> (Vfs, Ino) {
    let mut vfs = Vfs::with(
        Arc::new(MemBase::empty()),
        Limits::default(),
        Arc::new(ManualClock::default()),
    )
    .with_budget(budget);
    let root = vfs.open_root(ForkId::ROOT).unwrap();
    (vfs, root)
}

/// Creates `name` in `fork` with `len` bytes.
fn file_of(vfs: &mut Vfs, fork: ForkId, name: &str, len: usize) -> strata::fs::Result<()> {
    vfs.write_file(fork, name, &vec![1; len])
}

#[test]
fn the_budget_bounds_what_all_forks_write_together() {
    let (mut vfs, _) = with_budget(Budget {
        max_bytes: 10_000,
        max_inodes: 100,
    });
    let a = vfs.fork(ForkId::ROOT).unwrap();
    let b = vfs.fork(ForkId::ROOT).unwrap();
    file_of(&mut vfs, a, "big", 6_000).unwrap();
    // Within b's own limits, but past what the host has left: refused
    // before anything is allocated, and the failed write leaves no trace.
    assert_eq!(
        err(file_of(&mut vfs, b, "big", 6_000)),
        Errno::InsufficientSpace
    );
    assert_eq!(vfs.usage(b).unwrap().bytes, 0);
    file_of(&mut vfs, b, "fits", 4_000).unwrap();
    assert_eq!(vfs.budget_used().bytes, 10_000);
    assert_eq!(
        err(file_of(&mut vfs, a, "one-more", 1)),
        Errno::InsufficientSpace
    );
    // What a fork frees, anyone may take.
    vfs.discard(a).unwrap();
    assert_eq!(vfs.budget_used().bytes, 4_000);
    file_of(&mut vfs, b, "big", 6_000).unwrap();
    let root = vfs.open_root(b).unwrap();
    vfs.unlink_file_at(b, root, "fits").unwrap();
    assert_eq!(vfs.budget_used().bytes, 6_000);
}

#[test]
fn the_budget_counts_inodes_too() {
    let (mut vfs, root) = with_budget(Budget {
        max_bytes: u64::MAX,
        max_inodes: 4,
    });
    let a = vfs.fork(ForkId::ROOT).unwrap();
    // The root directory (copied up to change it) and two new ones.
    for name in ["x", "y"] {
        vfs.create_dir_at(a, root, name).unwrap();
    }
    assert_eq!(vfs.budget_used().inodes, 3);
    // The parent would need a copy of the root as well: a fourth inode for
    // the directory and a fifth for z, past the budget. Refused, no trace.
    assert_eq!(
        err(vfs.create_dir_at(ForkId::ROOT, root, "z")),
        Errno::InsufficientSpace
    );
    vfs.create_dir_at(a, root, "w").unwrap();
    assert_eq!(vfs.budget_used().inodes, 4);
    assert_eq!(
        err(vfs.create_dir_at(a, root, "v")),
        Errno::InsufficientSpace
    );
    // Deleting always works, and frees.
    vfs.remove_dir_at(a, root, "x").unwrap();
    vfs.remove_dir_at(a, root, "y").unwrap();
    assert_eq!(vfs.budget_used().inodes, 2);
    vfs.create_dir_at(a, root, "v").unwrap();
}

/// What the host holds is counted however it is shared: data a parent
/// deletes still counts while a child keeps it, and children that replace
/// what they inherited count their new copies.
#[test]
fn the_budget_counts_what_is_held_however_it_is_shared() {
    let (mut vfs, root) = with_budget(Budget {
        max_bytes: 2 << 20,
        max_inodes: 1000,
    });
    let mut children = Vec::new();
    let mut refused = false;
    for i in 0..20u8 {
        if file_of(&mut vfs, ForkId::ROOT, "big", 1 << 20).is_err() {
            refused = true;
            break;
        }
        children.push(vfs.fork(ForkId::ROOT).unwrap());
        vfs.unlink_file_at(ForkId::ROOT, root, "big").unwrap();
        assert!(vfs.budget_used().bytes <= 2 << 20, "round {i}");
    }
    assert!(refused, "20 MiB kept alive within a 2 MiB budget");
    assert_eq!(children.len(), 2);
    for child in children {
        vfs.discard(child).unwrap();
    }
    assert_eq!(vfs.budget_used().bytes, 0);

    file_of(&mut vfs, ForkId::ROOT, "big", 1 << 20).unwrap();
    let child = vfs.fork(ForkId::ROOT).unwrap();
    vfs.unlink_file_at(child, root, "big").unwrap();
    file_of(&mut vfs, child, "mine", 1 << 20).unwrap();
    let other = vfs.fork(ForkId::ROOT).unwrap();
    vfs.unlink_file_at(other, root, "big").unwrap();
    assert_eq!(
        err(file_of(&mut vfs, other, "mine", 1 << 20)),
        Errno::InsufficientSpace
    );
}

#[test]
fn forks_inherit_for_free_and_commits_move_what_they_wrote() {
    let (mut vfs, root) = with_budget(Budget {
        max_bytes: 10_000,
        max_inodes: 100,
    });
    file_of(&mut vfs, ForkId::ROOT, "image", 8_000).unwrap();
    // A hundred forks of a parent holding 8 000 bytes cost nothing.
    let forks: Vec<ForkId> = (0..100).map(|_| vfs.fork(ForkId::ROOT).unwrap()).collect();
    assert_eq!(vfs.budget_used().bytes, 8_000);
    // Deleting what it inherited frees nothing (the parent still holds it),
    // and costs nothing either.
    vfs.unlink_file_at(forks[0], root, "image").unwrap();
    assert_eq!(vfs.budget_used().bytes, 8_000);
    file_of(&mut vfs, forks[1], "new", 1_000).unwrap();
    assert_eq!(
        err(file_of(&mut vfs, forks[2], "new", 1_001)),
        Errno::InsufficientSpace
    );
    // Committed, what the fork wrote is the parent's, counted once.
    vfs.commit(forks[1]).unwrap();
    assert_eq!(vfs.budget_used().bytes, 9_000);
    file_of(&mut vfs, forks[2], "new2", 1_000).unwrap();
    assert_eq!(vfs.budget_used().bytes, 10_000);
    for fork in forks.into_iter().filter(|f| *f != ForkId(2)) {
        vfs.discard(fork).unwrap();
    }
    assert_eq!(vfs.budget_used().bytes, 9_000);
}
