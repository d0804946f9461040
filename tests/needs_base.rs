//! A base that is not loaded yet: every core operation that needs missing
//! base data must answer `NeedsBase` *with no effect*, and succeed when run
//! again after the data is loaded — the contract the actor's backends rely on.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

mod common;
use strata::fs::{
    Base, BaseNode, DirEntry, Error, ForkId, Ino, Limits, ManualClock, MemBase, Need, OpenFlags,
    Result, Timestamp, Vfs,
};

/// Wraps a full image but only answers what was loaded (or everything while `eager`).
struct LazyBase {
    inner: MemBase,
    loaded: Mutex<HashSet<Need>>,
    eager: AtomicBool,
    misses: AtomicUsize,
}

impl LazyBase {
    fn check(&self, need: Need) -> Result<()> {
        if self.eager.load(Ordering::SeqCst) || self.loaded.lock().unwrap().contains(&need) {
            Ok(())
        } else {
            self.misses.fetch_add(1, Ordering::SeqCst);
            need.miss()
        }
    }

    fn load(&self, need: Need) {
        assert!(
            self.loaded.lock().unwrap().insert(need),
            "the same need twice"
        );
    }
}

impl Base for LazyBase {
    fn root(&self) -> Ino {
        self.inner.root()
    }
    fn node(&self, ino: Ino) -> Result<Arc<BaseNode>> {
        self.check(Need::Node(ino))?;
        self.inner.node(ino)
    }
    fn lookup(&self, dir: Ino, name: &str) -> Result<Option<DirEntry>> {
        self.check(Need::Lookup(dir, name.into()))?;
        self.inner.lookup(dir, name)
    }
    fn list(&self, dir: Ino) -> Result<Arc<[DirEntry]>> {
        self.check(Need::List(dir))?;
        self.inner.list(dir)
    }
    fn chunk(&self, file: Ino, index: u64) -> Result<Bytes> {
        self.check(Need::Chunk(file, index))?;
        self.inner.chunk(file, index)
    }
}

fn image() -> MemBase {
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    MemBase::builder()
        .file("data/big.bin", big)
        .file("data/small.txt", &b"small"[..])
        .file("etc/conf", &b"key=value"[..])
        .symlink("etc/link", "conf")
        .dir("srv/www")
        .file("srv/www/index.html", &b"<html>"[..])
        .build()
}

/// Everything observable about a fork, read with the base fully available.
#[derive(Debug, PartialEq)]
struct State {
    tree: common::Snapshot,
    usage: strata::fs::Usage,
    handles: u64,
    diff: Vec<strata::fs::Change>,
}

fn state(vfs: &Vfs, base: &LazyBase, fork: ForkId, root: Ino) -> State {
    let was_eager = base.eager.swap(true, Ordering::SeqCst);
    let s = State {
        tree: common::snapshot(vfs, fork, root),
        usage: vfs.usage(fork).unwrap(),
        handles: vfs.open_handles(fork).unwrap(),
        diff: vfs.diff(fork).unwrap(),
    };
    base.eager.store(was_eager, Ordering::SeqCst);
    s
}

type Step = Box<dyn Fn(&mut Vfs, ForkId, Ino) -> Result<String>>;

fn steps() -> Vec<Step> {
    const RW: OpenFlags = OpenFlags {
        create: false,
        directory: false,
        exclusive: false,
        truncate: false,
    };
    let create = OpenFlags { create: true, ..RW };
    let open =
        move |vfs: &mut Vfs, f: ForkId, root: Ino, path: &str, flags: OpenFlags| -> Result<Ino> {
            let (ino, _) = vfs.open_at(f, root, path, true, flags, true)?;
            vfs.release(f, ino);
            Ok(ino)
        };
    vec![
        Box::new(|vfs, f, root| {
            Ok(format!(
                "{:?}",
                vfs.stat_at(f, root, "data/big.bin", true)?.size
            ))
        }),
        Box::new(move |vfs, f, root| {
            // One byte into the middle of a base chunk: needs that chunk.
            let ino = open(vfs, f, root, "data/big.bin", RW)?;
            Ok(vfs.write(f, ino, 70_000, b"X")?.to_string())
        }),
        Box::new(move |vfs, f, root| {
            // A whole chunk overwritten: needs no base data for it.
            let ino = open(vfs, f, root, "data/big.bin", RW)?;
            Ok(vfs.write(f, ino, 131_072, &[9u8; 65_536])?.to_string())
        }),
        Box::new(move |vfs, f, root| {
            let ino = open(vfs, f, root, "data/big.bin", RW)?;
            Ok(format!("{:?}", vfs.read(f, ino, 65_530, 20)?.concat()))
        }),
        Box::new(move |vfs, f, root| {
            let ino = open(vfs, f, root, "data/small.txt", RW)?;
            Ok(format!("{:?}", vfs.append(f, ino, b" and more")?))
        }),
        Box::new(move |vfs, f, root| {
            open(vfs, f, root, "etc/new", create).map(|_| "created".to_string())
        }),
        Box::new(|vfs, f, root| {
            let (etc, _) = vfs.open_at(f, root, "etc", true, OpenFlags::default(), false)?;
            let names = vfs.read_dir(f, etc, None, 100);
            vfs.release(f, etc);
            Ok(names?
                .into_iter()
                .map(|e| e.name.to_string())
                .collect::<Vec<_>>()
                .join(","))
        }),
        Box::new(|vfs, f, root| vfs.readlink_at(f, root, "etc/link")),
        Box::new(|vfs, f, root| {
            vfs.unlink_file_at(f, root, "etc/conf")
                .map(|_| "unlinked".into())
        }),
        Box::new(|vfs, f, root| {
            Ok(format!(
                "{:?}",
                vfs.stat_at(f, root, "etc/link", true).map(|s| s.size)
            ))
        }),
        Box::new(|vfs, f, root| {
            vfs.rename_at(f, root, "srv/www", root, "www")
                .map(|_| "moved".into())
        }),
        Box::new(|vfs, f, root| {
            vfs.link_at(f, root, "www/index.html", root, "index-link")
                .map(|_| "linked".into())
        }),
        Box::new(|vfs, f, root| {
            vfs.remove_dir_at(f, root, "www")
                .map(|_| "?".into())
                .or_else(|e| match e {
                    Error::Errno(errno) => Ok(format!("{errno:?}")),
                    miss => Err(miss),
                })
        }),
        Box::new(|vfs, f, root| {
            vfs.unlink_file_at(f, root, "www/index.html")
                .map(|_| "unlinked".into())
        }),
        Box::new(|vfs, f, root| vfs.remove_dir_at(f, root, "www").map(|_| "removed".into())),
        Box::new(move |vfs, f, root| {
            let ino = open(vfs, f, root, "data/big.bin", RW)?;
            vfs.set_size(f, ino, 66_000)?;
            vfs.set_size(f, ino, 300_000)?;
            Ok("resized".into())
        }),
        Box::new(|vfs, f, root| {
            vfs.create_dir_at(f, root, "srv/www")
                .map(|_| "recreated".into())
        }),
        Box::new(|vfs, f, root| {
            vfs.symlink_at(f, "../etc", root, "srv/etc")
                .map(|_| "symlinked".into())
        }),
        Box::new(|vfs, f, _| Ok(format!("{:?}", vfs.diff(f)?))),
        Box::new(|vfs, f, _| Ok(vfs.read_file(f, "data/big.bin")?.len().to_string())),
    ]
}

#[test]
fn a_miss_leaves_no_trace_and_the_rerun_succeeds() {
    let clock = || Arc::new(ManualClock::new(Timestamp::new(1, 0).unwrap()));
    let eager_base = Arc::new(LazyBase {
        inner: image(),
        loaded: Mutex::default(),
        eager: AtomicBool::new(true),
        misses: AtomicUsize::new(0),
    });
    let lazy_base = Arc::new(LazyBase {
        inner: image(),
        loaded: Mutex::default(),
        eager: AtomicBool::new(false),
        misses: AtomicUsize::new(0),
    });
    let mut eager = Vfs::with(eager_base.clone(), Limits::default(), clock());
    let mut lazy = Vfs::with(lazy_base.clone(), Limits::default(), clock());
    let fe = eager.fork(ForkId::ROOT).unwrap();
    let fl = lazy.fork(ForkId::ROOT).unwrap();
    let (re, rl) = (eager.open_root(fe).unwrap(), lazy.open_root(fl).unwrap());
    let mut reruns = 0;
    for (i, step) in steps().iter().enumerate() {
        let want = step(&mut eager, fe, re);
        let got = loop {
            let before = state(&lazy, &lazy_base, fl, rl);
            match step(&mut lazy, fl, rl) {
                Err(Error::NeedsBase(need)) => {
                    assert_eq!(
                        state(&lazy, &lazy_base, fl, rl),
                        before,
                        "step {i} left a trace before missing {need:?}"
                    );
                    lazy_base.load(need);
                    reruns += 1;
                }
                result => break result,
            }
        };
        assert_eq!(got, want, "step {i}");
        assert_eq!(
            state(&lazy, &lazy_base, fl, rl),
            state(&eager, &eager_base, fe, re),
            "after step {i}"
        );
    }
    assert!(
        reruns >= 15,
        "the script should hit many misses, hit {reruns}"
    );
    assert_eq!(eager_base.misses.load(Ordering::SeqCst), 0);
}
