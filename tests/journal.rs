//! Operations change their fork's tree in place and undo what they did when
//! they fail: a failed operation — refused for a quota, a name, a directory
//! removed while open, a missing base chunk — must leave every observable
//! thing exactly as it was (names, contents, link counts, times, usage, the
//! fork's diff, and inodes reachable only through open handles).
//!
//! Failures are also injected: the base answers "not loaded" at the k-th
//! access of a call, for every k an operation reaches, so each operation
//! fails at each point where it may consult the base — after some of its
//! changes are made.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use proptest::prelude::*;
use strata::fs::{
    Base, BaseNode, DirEntry, ForkId, Ino, Kind, Limits, ManualClock, MemBase, Need, OpenFlags,
    Stat, Timestamp, Usage, Vfs,
};

/// A base that misses at one chosen access.
struct FlakyBase {
    inner: MemBase,
    /// Accesses left before the one that misses; 0: none misses.
    miss_in: AtomicU32,
}

impl FlakyBase {
    fn check(&self, need: Need) -> strata::fs::Result<()> {
        let left = self.miss_in.load(Ordering::SeqCst);
        if left == 0 {
            return Ok(());
        }
        self.miss_in.store(left - 1, Ordering::SeqCst);
        if left == 1 { need.miss() } else { Ok(()) }
    }
}

impl Base for FlakyBase {
    fn root(&self) -> Ino {
        self.inner.root()
    }
    fn node(&self, ino: Ino) -> strata::fs::Result<Arc<BaseNode>> {
        self.check(Need::Node(ino))?;
        self.inner.node(ino)
    }
    fn lookup(&self, dir: Ino, name: &str) -> strata::fs::Result<Option<DirEntry>> {
        self.check(Need::Lookup(dir, name.into()))?;
        self.inner.lookup(dir, name)
    }
    fn list(&self, dir: Ino) -> strata::fs::Result<Arc<[DirEntry]>> {
        self.check(Need::List(dir))?;
        self.inner.list(dir)
    }
    fn chunk(&self, file: Ino, index: u64) -> strata::fs::Result<Bytes> {
        self.check(Need::Chunk(file, index))?;
        self.inner.chunk(file, index)
    }
}

const NAMES: [&str; 6] = ["a", "b", "d/a", "d/b", "e/a", "d/e/a"];

#[derive(Clone, Debug)]
enum Op {
    Create(usize),
    Write(usize, u16, u16),
    Truncate(usize, u16),
    Mkdir(usize),
    Rmdir(usize),
    Unlink(usize),
    Rename(usize, usize),
    Link(usize, usize),
    Symlink(usize),
    /// Through the handle on `d` held since the start, which may have
    /// been removed meanwhile.
    CreateInHeld(usize),
    RenameIntoHeld(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..NAMES.len();
    prop_oneof![
        n.clone().prop_map(Op::Create),
        (n.clone(), 0..20_000u16, 1..9_000u16).prop_map(|(i, o, l)| Op::Write(i, o, l)),
        (n.clone(), 0..20_000u16).prop_map(|(i, s)| Op::Truncate(i, s)),
        n.clone().prop_map(Op::Mkdir),
        n.clone().prop_map(Op::Rmdir),
        n.clone().prop_map(Op::Unlink),
        (n.clone(), n.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        (n.clone(), n.clone()).prop_map(|(a, b)| Op::Link(a, b)),
        n.clone().prop_map(Op::Symlink),
        n.clone().prop_map(Op::CreateInHeld),
        (n.clone(), n).prop_map(|(a, b)| Op::RenameIntoHeld(a, b)),
    ]
}

/// Everything a failed operation must not change.
#[derive(Debug, PartialEq)]
struct State {
    /// Path, stat and a checksum of the contents.
    tree: Vec<(String, Stat, u64)>,
    held: Vec<Result<Stat, String>>,
    usage: Usage,
    diff: Vec<strata::fs::Change>,
}

fn checksum(data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

fn state(vfs: &Vfs, fork: ForkId, root: Ino, held: &[Ino]) -> State {
    let reader = vfs.reader(fork).unwrap();
    let mut tree = vec![("/".to_string(), reader.stat(root).unwrap(), 0)];
    let mut work = vec![(String::new(), root)];
    while let Some((prefix, dir)) = work.pop() {
        for entry in reader.read_dir(dir, None, usize::MAX).unwrap() {
            let path = format!("{prefix}/{}", entry.name);
            let stat = reader.stat(entry.ino).unwrap();
            let data = match entry.kind {
                Kind::Dir => {
                    work.push((path.clone(), entry.ino));
                    0
                }
                Kind::File => checksum(&reader.read(entry.ino, 0, stat.size).unwrap().concat()),
                Kind::Symlink => 0,
            };
            tree.push((path, stat, data));
        }
    }
    State {
        tree,
        held: held
            .iter()
            .map(|&ino| reader.stat(ino).map_err(|e| format!("{e:?}")))
            .collect(),
        usage: vfs.usage(fork).unwrap(),
        diff: vfs.diff(fork).unwrap(),
    }
}

/// Runs `op`; for a failure, the state just before and just after the one
/// call that failed, and the error.
fn run(
    vfs: &mut Vfs,
    base: &FlakyBase,
    (fork, root): (ForkId, Ino),
    held: &[Ino],
    (op, miss_at): (&Op, u32),
) -> Option<(State, State, strata::fs::Error)> {
    let held_dir = held[1];
    let open = |vfs: &mut Vfs, i: usize| {
        vfs.open_at(fork, root, NAMES[i], true, OpenFlags::default(), true)
            .ok()
    };
    let create = OpenFlags {
        create: true,
        ..OpenFlags::default()
    };
    // The file a data operation works on, opened beforehand.
    let file = match *op {
        Op::Write(i, ..) | Op::Truncate(i, _) => Some(open(vfs, i)?.0),
        _ => None,
    };
    let before = state(vfs, fork, root, held);
    base.miss_in.store(miss_at, Ordering::SeqCst);
    let result = match *op {
        Op::Create(i) => vfs
            .open_at(fork, root, NAMES[i], true, create, true)
            .map(|(ino, _)| {
                vfs.release(fork, ino);
            }),
        Op::Write(_, offset, len) => file
            .map_or(Ok(0), |ino| {
                vfs.write(fork, ino, offset.into(), &vec![b'x'; len.into()])
            })
            .map(drop),
        Op::Truncate(_, size) => file.map_or(Ok(()), |ino| vfs.set_size(fork, ino, size.into())),
        Op::Mkdir(i) => vfs.create_dir_at(fork, root, NAMES[i]),
        Op::Rmdir(i) => vfs.remove_dir_at(fork, root, NAMES[i]),
        Op::Unlink(i) => vfs.unlink_file_at(fork, root, NAMES[i]),
        Op::Rename(a, b) => vfs.rename_at(fork, root, NAMES[a], root, NAMES[b]),
        Op::Link(a, b) => vfs.link_at(fork, root, NAMES[a], root, NAMES[b]),
        Op::Symlink(i) => vfs.symlink_at(fork, "a", root, NAMES[i]),
        Op::CreateInHeld(i) => {
            let name = NAMES[i].rsplit('/').next().unwrap_or("x");
            vfs.open_at(fork, held_dir, name, true, create, true)
                .map(|(ino, _)| {
                    vfs.release(fork, ino);
                })
        }
        Op::RenameIntoHeld(a, b) => {
            let name = NAMES[b].rsplit('/').next().unwrap_or("x");
            vfs.rename_at(fork, root, NAMES[a], held_dir, name)
        }
    };
    base.miss_in.store(0, Ordering::SeqCst);
    let failed = result
        .err()
        .map(|e| (before, state(vfs, fork, root, held), e));
    if let Some(ino) = file {
        vfs.release(fork, ino);
    }
    failed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_failed_operation_leaves_no_trace(
        ops in proptest::collection::vec((op(), 0..8u32), 1..60),
    ) {
        let clock = Arc::new(ManualClock::new(Timestamp::new(1, 0).unwrap()));
        // Tight enough that writes, creates and links run into them.
        let limits = Limits {
            max_bytes: 40_000,
            max_inodes: 9,
            max_links: 3,
            ..Limits::default()
        };
        let base = Arc::new(FlakyBase {
            inner: MemBase::builder()
                .file("a", &b"from the base"[..])
                .file("d/b", Bytes::from(vec![b'b'; 70_000]))
                .dir("d/e")
                .file("e/a", &b"base e/a"[..])
                .build(),
            miss_in: AtomicU32::new(0),
        });
        let mut vfs = Vfs::with(base.clone(), limits, clock.clone());
        let fork = vfs.fork(ForkId::ROOT).unwrap();
        let root = vfs.open_root(fork).unwrap();
        let (held_dir, _) = vfs
            .open_at(fork, root, "d", true, OpenFlags::default(), false)
            .unwrap();
        let held = [root, held_dir];
        // Published versions share the tree, as the actor's snapshots do.
        let mut published = vfs.snapshot(fork).unwrap();
        for (i, (op, miss_at)) in ops.iter().enumerate() {
            clock.advance(1_000);
            let failed = run(&mut vfs, &base, (fork, root), &held, (op, *miss_at));
            if let Some((before, after, e)) = failed {
                prop_assert!(
                    after == before,
                    "op {} ({:?}) failed with {:?} and left a trace:\nbefore {:?}\nafter  {:?}",
                    i, op, e, before, after
                );
            }
            if i % 3 == 0 {
                published = vfs.snapshot(fork).unwrap();
            }
        }
        drop(published);
    }
}

/// A base whose `node` panics for one inode: an embedder's image with a bug.
struct PanicsOnNode {
    inner: MemBase,
    ino: AtomicU32,
}

impl Base for PanicsOnNode {
    fn root(&self) -> Ino {
        self.inner.root()
    }
    fn node(&self, ino: Ino) -> strata::fs::Result<Arc<BaseNode>> {
        assert_ne!(
            ino.0,
            u64::from(self.ino.load(Ordering::SeqCst)),
            "image bug"
        );
        self.inner.node(ino)
    }
    fn lookup(&self, dir: Ino, name: &str) -> strata::fs::Result<Option<DirEntry>> {
        self.inner.lookup(dir, name)
    }
    fn list(&self, dir: Ino) -> strata::fs::Result<Arc<[DirEntry]>> {
        self.inner.list(dir)
    }
    fn chunk(&self, file: Ino, index: u64) -> strata::fs::Result<Bytes> {
        self.inner.chunk(file, index)
    }
}

/// An operation that unwinds half-way (the image panics on the second
/// inode it copies up) is undone as a failed one is: the name it took away
/// is back, and the inode numbers it used are not handed out twice.
#[test]
fn an_operation_that_unwinds_leaves_no_trace() {
    let base = Arc::new(PanicsOnNode {
        inner: MemBase::builder()
            .file("b", &b"base b"[..])
            .file("c", &b"base c"[..])
            .build(),
        ino: AtomicU32::new(0),
    });
    let clock = Arc::new(ManualClock::new(Timestamp::new(1, 0).unwrap()));
    let mut vfs = Vfs::with(base.clone(), Limits::default(), clock.clone());
    let fork = vfs.fork(ForkId::ROOT).unwrap();
    let root = vfs.open_root(fork).unwrap();
    let b = vfs.stat_at(fork, root, "b", false).unwrap().ino;
    let before = state(&vfs, fork, root, &[root]);
    base.ino
        .store(u32::try_from(b.0).unwrap(), Ordering::SeqCst);
    clock.advance(1_000);
    for op in [
        &mut |vfs: &mut Vfs| vfs.unlink_file_at(fork, root, "b"),
        &mut |vfs: &mut Vfs| vfs.rename_at(fork, root, "c", root, "b"),
    ] as [&mut dyn FnMut(&mut Vfs) -> strata::fs::Result<()>; 2]
    {
        base.ino
            .store(u32::try_from(b.0).unwrap(), Ordering::SeqCst);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(&mut vfs)));
        base.ino.store(0, Ordering::SeqCst);
        assert!(unwound.is_err(), "the image's panic should unwind");
        assert_eq!(state(&vfs, fork, root, &[root]), before);
    }
    let create = OpenFlags {
        create: true,
        ..OpenFlags::default()
    };
    let mut new_file = |name| vfs.open_at(fork, root, name, true, create, true).unwrap().0;
    let (x, y) = (new_file("x"), new_file("y"));
    assert_ne!(x, y);
    assert_eq!(vfs.stat_at(fork, root, "b", false).unwrap().ino, b);
}
