//! Commit against what the parent holds open: a committed child's removal
//! or replacement of a name behaves exactly as the same operation done in
//! the parent itself. Each case runs twice — once through a child fork and
//! a commit, once directly in the parent — and every observation through
//! the parent's open handle, the parent's diff and its usage must agree.

mod common;

use std::sync::Arc;

use strata::fs::{
    Change, CommitError, Errno, ForkId, Ino, Kind, Limits, ManualClock, MemBase, OpenFlags,
    SetTime, Stat, Usage, Vfs,
};

use common::CREATE;

const P: ForkId = ForkId::ROOT;

fn base() -> MemBase {
    MemBase::builder()
        .file("image.txt", &b"from the image"[..])
        .file("d/x", &b"in a base directory"[..])
        .dir("empty")
        .build()
}

fn new_vfs() -> (Vfs, Ino) {
    let mut vfs = Vfs::with(
        Arc::new(base()),
        Limits::default(),
        Arc::new(ManualClock::default()),
    );
    let root = vfs.open_root(P).unwrap();
    (vfs, root)
}

/// What the parent has before the removal.
#[derive(Clone, Copy, Debug)]
enum Setup {
    /// `up.txt`, created and written in the parent.
    Upper,
    /// `image.txt`, as the image has it.
    Image,
    /// `image.txt`, rewritten in the parent (copied up, with its own bytes).
    ImageRewritten,
    /// `up.txt` with a second name, `up2.txt`.
    HardLinked,
    /// The directory `d` of the image, its file `d/x` also open.
    BaseDir,
}

/// What removes the name.
#[derive(Clone, Copy, Debug)]
enum Removal {
    Unlink,
    /// Another file renamed over it.
    RenamedOver,
}

/// Prepares the parent; returns the path of the object to hold open.
fn set_up(vfs: &mut Vfs, root: Ino, setup: Setup) -> &'static str {
    vfs.write_file(P, "other", b"another file").unwrap();
    match setup {
        Setup::Upper => {
            vfs.write_file(P, "up.txt", b"written in the parent")
                .unwrap();
            "up.txt"
        }
        Setup::HardLinked => {
            vfs.write_file(P, "up.txt", b"two names").unwrap();
            vfs.link_at(P, root, "up.txt", root, "up2.txt").unwrap();
            "up.txt"
        }
        Setup::Image => "image.txt",
        Setup::ImageRewritten => {
            vfs.write_file(P, "image.txt", b"the parent's bytes")
                .unwrap();
            "image.txt"
        }
        Setup::BaseDir => "d",
    }
}

/// Removes `path` in `fork` (for `BaseDir`: `d/x`, then `d`).
fn remove(vfs: &mut Vfs, fork: ForkId, path: &str, setup: Setup, removal: Removal) {
    let root = vfs.open_root(fork).unwrap();
    match (setup, removal) {
        (Setup::BaseDir, Removal::Unlink) => {
            vfs.unlink_file_at(fork, root, "d/x").unwrap();
            vfs.remove_dir_at(fork, root, "d").unwrap();
        }
        (Setup::BaseDir, Removal::RenamedOver) => {
            vfs.unlink_file_at(fork, root, "d/x").unwrap();
            vfs.rename_at(fork, root, "empty", root, "d").unwrap();
        }
        (_, Removal::Unlink) => vfs.unlink_file_at(fork, root, path).unwrap(),
        (_, Removal::RenamedOver) => vfs.rename_at(fork, root, "other", root, path).unwrap(),
    }
    vfs.release(fork, root);
}

/// A held object's metadata and contents.
type Held = (Result<Stat, Errno>, Result<Vec<u8>, Errno>);

/// Everything the parent's handles and the host can observe.
#[derive(Debug, PartialEq)]
struct Seen {
    stat: Result<Stat, Errno>,
    contents: Result<Vec<u8>, Errno>,
    after_write: Result<Vec<u8>, Errno>,
    /// For `BaseDir`: the held file inside the directory.
    inner: Option<Held>,
    listing: Result<usize, Errno>,
    diff: Vec<Change>,
    usage_open: Usage,
    usage_closed: Usage,
    gone_after_close: bool,
}

/// Runs one case: through a child and a commit (`via_child`) or in the
/// parent itself. `parent_moves_on`: the parent changes another path after
/// the fork, so the commit takes the three-way path, not the fast one.
fn run(setup: Setup, removal: Removal, via_child: bool, parent_moves_on: bool) -> Seen {
    let (mut vfs, root) = new_vfs();
    let path = set_up(&mut vfs, root, setup);
    let dir = matches!(setup, Setup::BaseDir);
    let flags = OpenFlags {
        directory: dir,
        ..OpenFlags::default()
    };
    let (held, _) = vfs.open_at(P, root, path, true, flags, !dir).unwrap();
    let inner = dir.then(|| {
        vfs.open_at(P, root, "d/x", true, OpenFlags::default(), true)
            .unwrap()
            .0
    });
    let child = via_child.then(|| vfs.fork(P).unwrap());
    if parent_moves_on {
        vfs.write_file(P, "unrelated", b"the parent moved on")
            .unwrap();
    }
    match child {
        Some(child) => {
            remove(&mut vfs, child, path, setup, removal);
            vfs.commit(child).unwrap();
        }
        None => remove(&mut vfs, P, path, setup, removal),
    }
    let errno = |e: strata::fs::Error| e.errno().unwrap();
    let stat = vfs.stat(P, held).map_err(errno);
    let contents = if dir {
        Ok(Vec::new())
    } else {
        read_all(&vfs, held)
    };
    let after_write = if dir {
        Ok(Vec::new())
    } else {
        vfs.write(P, held, 2, b"WRITTEN")
            .map_err(errno)
            .and_then(|_| read_all(&vfs, held))
    };
    let inner_seen = inner.map(|ino| (vfs.stat(P, ino).map_err(errno), read_all(&vfs, ino)));
    let listing = vfs
        .read_dir(P, if dir { held } else { root }, None, usize::MAX)
        .map(|e| e.len())
        .map_err(errno);
    let diff = vfs.diff(P).unwrap();
    let usage_open = vfs.usage(P).unwrap();
    vfs.release(P, held);
    if let Some(ino) = inner {
        vfs.release(P, ino);
    }
    let usage_closed = vfs.usage(P).unwrap();
    let gone_after_close = match vfs.stat(P, held) {
        Err(_) => true,
        // A base inode's number reads as the image's again once dropped, but
        // no name leads to it and no handle holds it.
        Ok(_) => held.is_base() && vfs.diff(P).unwrap() == diff,
    };
    Seen {
        stat,
        contents,
        after_write,
        inner: inner_seen,
        listing,
        diff,
        usage_open,
        usage_closed,
        gone_after_close,
    }
}

#[test]
fn a_committed_removal_is_the_same_removal_done_in_the_parent() {
    use Removal::*;
    use Setup::*;
    for setup in [Upper, Image, ImageRewritten, HardLinked, BaseDir] {
        for removal in [Unlink, RenamedOver] {
            for parent_moves_on in [false, true] {
                let case = format!("{setup:?}, {removal:?}, parent moved on: {parent_moves_on}");
                let direct = run(setup, removal, false, parent_moves_on);
                let committed = run(setup, removal, true, parent_moves_on);
                assert_eq!(committed, direct, "{case}");
                // And what the parent does is what POSIX says.
                let stat = direct.stat.as_ref().expect("the handle still works");
                let expected_links = match setup {
                    HardLinked => 1,
                    _ => 0,
                };
                assert_eq!(stat.nlink, expected_links, "{case}");
                assert_eq!(direct.gone_after_close, expected_links == 0, "{case}");
            }
        }
    }
}

#[test]
fn the_parent_keeps_its_own_bytes_of_a_file_the_child_deleted() {
    for parent_moves_on in [false, true] {
        let seen = run(
            Setup::ImageRewritten,
            Removal::Unlink,
            true,
            parent_moves_on,
        );
        assert_eq!(seen.contents.unwrap(), b"the parent's bytes");
        assert_eq!(seen.after_write.unwrap(), b"thWRITTENt's bytes");
        assert_eq!(seen.stat.unwrap().nlink, 0);
        assert!(seen.diff.iter().any(|c| c.path == "/image.txt"
            && c.kind == strata::fs::ChangeKind::Deleted
            && c.node == Kind::File));
        // Held, its bytes count; closed, they go.
        assert!(seen.usage_open.bytes > seen.usage_closed.bytes);
    }
}

#[test]
fn a_child_deleting_what_the_parent_only_touched_conflicts() {
    let (mut vfs, root) = new_vfs();
    vfs.write_file(P, "f", b"data").unwrap();
    let child = vfs.fork(P).unwrap();
    // The parent changes only the times of `f`: no path changes, but the
    // inode does.
    let now = SetTime::At(strata::fs::Timestamp::from_nanos(7));
    vfs.set_times_at(P, root, "f", true, now, now).unwrap();
    let child_root = vfs.open_root(child).unwrap();
    vfs.unlink_file_at(child, child_root, "f").unwrap();
    match vfs.commit(child) {
        Err(CommitError::Conflict(paths)) => assert_eq!(paths, ["/f"]),
        other => panic!("expected a conflict on /f, got {other:?}"),
    }
    assert_eq!(vfs.read_file(P, "f").unwrap(), b"data");
}

#[test]
fn a_file_the_parent_created_open_survives_a_commit_that_creates_elsewhere() {
    let (mut vfs, root) = new_vfs();
    let (held, _) = vfs.open_at(P, root, "mine", true, CREATE, true).unwrap();
    vfs.write(P, held, 0, b"kept").unwrap();
    vfs.unlink_file_at(P, root, "mine").unwrap();
    let child = vfs.fork(P).unwrap();
    vfs.write_file(child, "theirs", b"new").unwrap();
    vfs.commit(child).unwrap();
    // The parent's own orphan is still its own.
    assert_eq!(read_all(&vfs, held).unwrap(), b"kept");
    assert_eq!(vfs.read_file(P, "theirs").unwrap(), b"new");
    vfs.release(P, held);
    assert_eq!(vfs.usage(P).unwrap().bytes, 3);
}

/// Random histories: the parent changes itself, holds every object it has
/// open, and a child's random changes are committed into it — or, in the
/// reference world, made in the parent directly. The two parents must end
/// identical (tree, diff, usage once the handles are closed), and every
/// handle must still work: on an object still named, it reads what the path
/// reads; on one that lost its names, it reads what it read before the
/// commit, with no links, and takes writes.
#[test]
fn handles_the_parent_holds_survive_any_commit() {
    use common::tree_ops::{Op, apply, op};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    fn world(prefix: &[Op]) -> (Vfs, Ino) {
        let mut vfs = Vfs::with(
            Arc::new(common::tree_ops::base()),
            Limits::default(),
            Arc::new(ManualClock::default()),
        );
        let root = vfs.open_root(P).unwrap();
        for op in prefix {
            apply(&mut vfs, P, root, op);
        }
        (vfs, root)
    }

    /// Opens every file and directory of the parent; returns their inodes.
    fn hold_everything(vfs: &mut Vfs, root: Ino) -> Vec<(Ino, Kind)> {
        let mut held = Vec::new();
        for (path, (_, entry)) in common::snapshot(vfs, P, root) {
            let dir = matches!(entry, common::Entry::Dir);
            if matches!(entry, common::Entry::Symlink(_)) {
                continue;
            }
            let flags = OpenFlags {
                directory: dir,
                ..OpenFlags::default()
            };
            let (ino, kind) = vfs
                .open_at(P, root, &path[1..], false, flags, !dir)
                .unwrap();
            // One handle per object: through a second name of a file held
            // already it would read the writes made through the first.
            if held.iter().any(|&(i, _)| i == ino) {
                vfs.release(P, ino);
                continue;
            }
            held.push((ino, kind));
        }
        held
    }

    /// `moves_on`: the parent writes a file of its own after the fork, so
    /// the commit takes the three-way merge rather than the fast path.
    fn case(
        prefix: &[Op],
        child_ops: &[Op],
        moves_on: bool,
        orphaned: &mut u32,
    ) -> Result<(), TestCaseError> {
        let (mut a, root) = world(prefix);
        let (mut b, _) = world(prefix);
        let held = hold_everything(&mut a, root);
        prop_assert_eq!(&held, &hold_everything(&mut b, root));
        let before: Vec<Option<Vec<u8>>> = held
            .iter()
            .map(|&(ino, kind)| (kind == Kind::File).then(|| read_all(&a, ino).unwrap()))
            .collect();

        let child = a.fork(P).unwrap();
        if moves_on {
            // A name the random walk never uses: no conflict can come of it.
            a.write_file(P, "zz", b"the parent's own").unwrap();
            b.write_file(P, "zz", b"the parent's own").unwrap();
        }
        let child_root = a.open_root(child).unwrap();
        for op in child_ops {
            apply(&mut a, child, child_root, op);
        }
        a.commit(child).unwrap();
        for op in child_ops {
            apply(&mut b, P, root, op);
        }

        let tree = common::snapshot(&a, P, root);
        prop_assert_eq!(&tree, &common::snapshot(&b, P, root));
        prop_assert_eq!(a.diff(P).unwrap(), b.diff(P).unwrap());
        for (&(ino, kind), before) in held.iter().zip(&before) {
            let names = tree.values().filter(|(i, _)| *i == ino.0).count() as u64;
            let stat = a.stat(P, ino);
            prop_assert!(stat.is_ok(), "a held handle broke: {:?}", stat);
            let stat = stat.unwrap();
            prop_assert_eq!(stat.nlink, b.stat(P, ino).unwrap().nlink);
            if kind != Kind::File {
                continue;
            }
            prop_assert_eq!(stat.nlink, names);
            let now = read_all(&a, ino).unwrap();
            if names > 0 {
                prop_assert_eq!(now, read_all(&b, ino).unwrap());
            } else {
                *orphaned += 1;
                prop_assert_eq!(Some(now), before.clone());
                a.write(P, ino, 0, b"Z").unwrap();
                prop_assert_eq!(read_all(&a, ino).unwrap().first().copied(), Some(b'Z'));
            }
        }
        for (ino, _) in held {
            a.release(P, ino);
            b.release(P, ino);
        }
        prop_assert_eq!(a.usage(P).unwrap(), b.usage(P).unwrap());
        prop_assert_eq!(common::snapshot(&a, P, root), common::snapshot(&b, P, root));
        Ok(())
    }

    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    let orphaned = std::cell::Cell::new(0);
    let strategy = (
        prop::collection::vec(op(), 0..8),
        prop::collection::vec(op(), 0..12),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(prefix, child_ops, moves_on)| {
            let mut n = orphaned.get();
            let result = case(&prefix, &child_ops, moves_on, &mut n);
            orphaned.set(n);
            result
        })
        .unwrap();
    // Files orphaned by a commit must be common, or the property says little.
    assert!(orphaned.get() > 100, "{}", orphaned.get());
}

/// The whole file `ino` of the parent.
fn read_all(vfs: &Vfs, ino: Ino) -> Result<Vec<u8>, Errno> {
    let err = |e: strata::fs::Error| e.errno().unwrap();
    let size = vfs.stat(P, ino).map_err(err)?.size;
    Ok(vfs.read(P, ino, 0, size).map_err(err)?.concat())
}

/// The parent holds a base directory the child removes (emptied, then
/// replaced by a rename): the parent's diff is the same as after doing it
/// itself — the orphan directory no longer falls through to the image, so
/// the image's names in it count as removed.
#[test]
fn diff_of_a_held_base_directory_removed_by_a_commit() {
    fn world(via_child: bool) -> Vec<Change> {
        let base = MemBase::builder().file("a/a", &b"x"[..]).dir("c/c").build();
        let mut vfs = Vfs::with(
            Arc::new(base),
            Limits::default(),
            Arc::new(ManualClock::default()),
        );
        let root = vfs.open_root(P).unwrap();
        let dir = OpenFlags {
            directory: true,
            ..OpenFlags::default()
        };
        vfs.open_at(P, root, "c", false, dir, false).unwrap();
        let fork = if via_child { vfs.fork(P).unwrap() } else { P };
        vfs.remove_dir_at(fork, root, "c/c").unwrap();
        vfs.rename_at(fork, root, "a", root, "c").unwrap();
        vfs.create_dir_at(fork, root, "c/c").unwrap();
        if via_child {
            vfs.commit(fork).unwrap();
        }
        vfs.diff(P).unwrap()
    }
    assert_eq!(world(true), world(false));
}

/// A child that replaces a file of the parent with another as large fits
/// the parent's limits, as the same two steps done in the parent do: the
/// replaced file, which nobody holds, is not counted against the commit.
#[test]
fn a_commit_counts_only_the_orphans_the_parent_holds() {
    let limits = Limits {
        max_bytes: 3 << 19,
        ..Limits::default()
    };
    for held in [false, true] {
        let mut vfs = Vfs::with(
            Arc::new(MemBase::empty()),
            limits,
            Arc::new(ManualClock::default()),
        );
        let root = vfs.open_root(P).unwrap();
        vfs.write_file(P, "a", &vec![1; 1 << 20]).unwrap();
        if held {
            vfs.open_at(P, root, "a", true, OpenFlags::default(), false)
                .unwrap();
        }
        let child = vfs.fork(P).unwrap();
        vfs.unlink_file_at(child, root, "a").unwrap();
        vfs.write_file(child, "b", &vec![2; 1 << 20]).unwrap();
        let committed = vfs.commit(child);
        if held {
            // Held, the old file is the parent's to pay for, as it would be
            // after the same unlink done in the parent — which would then
            // refuse the second file.
            assert_eq!(
                committed,
                Err(CommitError::Failed(Errno::InsufficientSpace.into()))
            );
        } else {
            assert_eq!(committed, Ok(()));
            assert_eq!(vfs.usage(P).unwrap().bytes, 1 << 20);
        }
    }
}
