//! A differential test through the handle, concurrently: several clients
//! drive one `VfsHandle` at once with random operations — opens held across
//! forks, commits and discards among them — and every history is checked
//! against the core run sequentially. The concurrent results must be those
//! of *some* order of the operations that respects real time (an operation
//! that returned before another began comes first): the history is
//! linearizable. The search for that order is Wing and Gong's: try each
//! operation that may come next, replay it on a copy of the sequential
//! model, keep it if it answers as the real one did.
//!
//! Runs on runtimes of 1, 2, 4 and 8 workers. `STRATA_HISTORIES=n` sets the
//! histories per runtime (default 250).

mod common;

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use bytes::Bytes;
use strata::actor::{Error, FollowSymlinks, OpenFile, OpenOptions, VfsBuilder, VfsHandle};
use strata::fs::{
    Change, CommitError, DirEntry, ForkId, Ino, Kind, Limits, ManualClock, MemBase, OpenFlags, Vfs,
};

const CLIENTS: usize = 3;
const OPS_PER_CLIENT: usize = 8;
const PATHS: [&str; 5] = ["a", "b", "d", "d/b", "d/c"];

fn base() -> MemBase {
    MemBase::builder()
        .file("a", &b"base a"[..])
        .file("d/b", &b"base d/b"[..])
        .build()
}

/// One call on the handle, with the arguments it was made with.
#[derive(Clone, Debug)]
enum Call {
    Open {
        fork: ForkId,
        path: &'static str,
        flags: OpenFlags,
    },
    /// An `OpenFile` dropped: its release travels to the actor one way.
    Close {
        fork: ForkId,
        ino: Ino,
    },
    Read {
        fork: ForkId,
        ino: Ino,
        offset: u64,
    },
    Write {
        fork: ForkId,
        ino: Ino,
        offset: u64,
        data: Vec<u8>,
    },
    Stat {
        fork: ForkId,
        ino: Ino,
    },
    SetSize {
        fork: ForkId,
        ino: Ino,
        size: u64,
    },
    StatAt {
        fork: ForkId,
        path: &'static str,
    },
    List {
        fork: ForkId,
    },
    Unlink {
        fork: ForkId,
        path: &'static str,
    },
    Mkdir {
        fork: ForkId,
        path: &'static str,
    },
    Rmdir {
        fork: ForkId,
        path: &'static str,
    },
    Rename {
        fork: ForkId,
        from: &'static str,
        to: &'static str,
    },
    Fork {
        parent: ForkId,
    },
    Commit {
        fork: ForkId,
    },
    Discard {
        fork: ForkId,
    },
    Diff {
        fork: ForkId,
    },
}

/// What a call answered, in a form both sides produce.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Unit,
    Opened(Ino, Kind),
    Bytes(Vec<u8>),
    /// Inode, kind, links, size (times come from a clock that stands still).
    Stat(Ino, Kind, u64, u64),
    Names(Vec<(String, Ino)>),
    Fork(ForkId),
    Changes(Vec<Change>),
    /// Bytes written.
    Count(u64),
}

type Outcome = Result<Value, Error>;

/// A call as it happened: when it began and returned, on one logical clock
/// shared by all clients.
#[derive(Debug)]
struct Done {
    client: usize,
    began: u64,
    returned: u64,
    call: Call,
    outcome: Outcome,
}

fn names(entries: Vec<DirEntry>) -> Value {
    Value::Names(
        entries
            .into_iter()
            .map(|e| (e.name.to_string(), e.ino))
            .collect(),
    )
}

/// Runs `call` on the real thing; the `OpenFile` of a successful open is
/// handed back to be held. `file` is the held file a call on one names.
/// Calls on paths go through their fork's own root, opened for the call
/// (the same inode in every fork, the one the model is given).
async fn run(vfs: &VfsHandle, call: &Call, file: Option<&OpenFile>) -> (Outcome, Option<OpenFile>) {
    let held = || file.expect("a call on a file names a held file");
    let root = |fork| async move { vfs.fork_with_id(fork).open_root().await };
    let mut opened = None;
    let outcome = async {
        let value = match call.clone() {
            Call::Open { fork, path, flags } => {
                let options = OpenOptions::new().flags(flags).write(true);
                let file = root(fork).await?.open_at(path, options).await?;
                let value = Value::Opened(file.ino(), file.kind());
                opened = Some(file);
                value
            }
            Call::Close { .. } => unreachable!("closes are drops"),
            Call::Read { offset, .. } => Value::Bytes(held().read(offset, 16).await?.concat()),
            Call::Write { offset, data, .. } => {
                Value::Count(held().write(offset, Bytes::from(data)).await? as u64)
            }
            Call::Stat { .. } => {
                let s = held().stat().await?;
                Value::Stat(s.ino, s.kind, s.nlink, s.size)
            }
            Call::SetSize { size, .. } => {
                held().set_size(size).await?;
                Value::Unit
            }
            Call::StatAt { fork, path } => {
                let s = root(fork).await?.stat_at(path, FollowSymlinks::Yes).await?;
                Value::Stat(s.ino, s.kind, s.nlink, s.size)
            }
            Call::List { fork } => names(root(fork).await?.read_dir(None, 64).await?),
            Call::Unlink { fork, path } => {
                root(fork).await?.unlink_file_at(path).await?;
                Value::Unit
            }
            Call::Mkdir { fork, path } => {
                root(fork).await?.create_dir_at(path).await?;
                Value::Unit
            }
            Call::Rmdir { fork, path } => {
                root(fork).await?.remove_dir_at(path).await?;
                Value::Unit
            }
            Call::Rename { fork, from, to } => {
                let root = root(fork).await?;
                root.rename_at(from, &root, to).await?;
                Value::Unit
            }
            Call::Fork { parent } => Value::Fork(vfs.fork_with_id(parent).fork().await?.id()),
            Call::Commit { fork } => {
                vfs.fork_with_id(fork).commit().await?;
                Value::Unit
            }
            Call::Discard { fork } => {
                vfs.fork_with_id(fork).discard().await?;
                Value::Unit
            }
            Call::Diff { fork } => Value::Changes(vfs.fork_with_id(fork).diff().await?),
        };
        Ok::<_, Error>(value)
    }
    .await;
    (outcome, opened)
}

/// Runs `call` on the sequential model: the core alone.
fn replay(vfs: &mut Vfs, root: Ino, call: &Call) -> Outcome {
    let err = |e: strata::fs::Error| Error::from(e);
    let unit = |r: strata::fs::Result<()>| r.map(|()| Value::Unit).map_err(err);
    match call.clone() {
        Call::Open { fork, path, flags } => vfs
            .open_at(fork, root, path, true, flags, true)
            .map(|(ino, kind)| Value::Opened(ino, kind))
            .map_err(err),
        Call::Close { fork, ino } => {
            vfs.release(fork, ino);
            Ok(Value::Unit)
        }
        Call::Read { fork, ino, offset } => vfs
            .read(fork, ino, offset, 16)
            .map(|b| Value::Bytes(b.concat()))
            .map_err(err),
        Call::Write {
            fork,
            ino,
            offset,
            data,
        } => vfs
            .write(fork, ino, offset, &data)
            .map(|n| Value::Count(n as u64))
            .map_err(err),
        Call::Stat { fork, ino } => vfs
            .stat(fork, ino)
            .map(|s| Value::Stat(s.ino, s.kind, s.nlink, s.size))
            .map_err(err),
        Call::SetSize { fork, ino, size } => unit(vfs.set_size(fork, ino, size)),
        Call::StatAt { fork, path } => vfs
            .stat_at(fork, root, path, true)
            .map(|s| Value::Stat(s.ino, s.kind, s.nlink, s.size))
            .map_err(err),
        Call::List { fork } => vfs.read_dir(fork, root, None, 64).map(names).map_err(err),
        Call::Unlink { fork, path } => unit(vfs.unlink_file_at(fork, root, path)),
        Call::Mkdir { fork, path } => unit(vfs.create_dir_at(fork, root, path)),
        Call::Rmdir { fork, path } => unit(vfs.remove_dir_at(fork, root, path)),
        Call::Rename { fork, from, to } => unit(vfs.rename_at(fork, root, from, root, to)),
        Call::Fork { parent } => vfs.fork(parent).map(Value::Fork).map_err(err),
        Call::Commit { fork } => match vfs.commit(fork) {
            Ok(()) => Ok(Value::Unit),
            Err(CommitError::Conflict(paths)) => Err(Error::Conflict(paths)),
            Err(CommitError::Failed(e)) => Err(err(e)),
        },
        Call::Discard { fork } => unit(vfs.discard(fork)),
        Call::Diff { fork } => vfs.diff(fork).map(Value::Changes).map_err(err),
    }
}

/// A small deterministic random source (xorshift), one per client.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// One client: random calls, each chosen from what it knows (the forks it
/// may use, the files it holds open).
async fn client(
    id: usize,
    vfs: VfsHandle,
    shared: ForkId,
    seed: u64,
    clock: Arc<AtomicU64>,
) -> Vec<Done> {
    let mut rng = Rng(seed | 1);
    let mut forks = vec![ForkId::ROOT, shared];
    let mut mine: Vec<ForkId> = Vec::new();
    let mut held: Vec<OpenFile> = Vec::new();
    let mut done = Vec::new();
    let mut record = |call: Call, began: u64, outcome: Outcome| {
        let returned = clock.fetch_add(1, SeqCst);
        done.push(Done {
            client: id,
            began,
            returned,
            call,
            outcome,
        });
    };
    for _ in 0..OPS_PER_CLIENT {
        let fork = rng.pick(&forks);
        let path = rng.pick(&PATHS);
        let file = (!held.is_empty()).then(|| rng.below(held.len()));
        let target = file.map(|i| (held[i].fork_id(), held[i].ino()));
        let open = Call::Open {
            fork,
            path,
            flags: OpenFlags {
                create: rng.below(2) == 0,
                truncate: rng.below(4) == 0,
                ..OpenFlags::default()
            },
        };
        let call = match (rng.below(18), target) {
            (0..=1, _) | (3..=8, None) => open,
            (3, Some((fork, ino))) => Call::Close { fork, ino },
            (4, Some((fork, ino))) => Call::Read {
                fork,
                ino,
                offset: rng.below(4) as u64,
            },
            (5 | 6, Some((fork, ino))) => Call::Write {
                fork,
                ino,
                offset: rng.below(8) as u64,
                data: vec![b'A' + id as u8; 1 + rng.below(4)],
            },
            (7, Some((fork, ino))) => Call::Stat { fork, ino },
            (8, Some((fork, ino))) => Call::SetSize {
                fork,
                ino,
                size: rng.below(6) as u64,
            },
            (9, _) => Call::StatAt { fork, path },
            (10, _) => Call::Unlink { fork, path },
            (11, _) => {
                if rng.below(2) == 0 {
                    Call::Mkdir { fork, path }
                } else {
                    Call::Rmdir { fork, path }
                }
            }
            (12, _) => Call::Rename {
                fork,
                from: path,
                to: rng.pick(&PATHS),
            },
            (13 | 14, _) if mine.len() < 2 => Call::Fork { parent: fork },
            (13..=16, _) if !mine.is_empty() => {
                let fork = mine.remove(rng.below(mine.len()));
                forks.retain(|f| *f != fork);
                if rng.below(4) == 0 {
                    Call::Discard { fork }
                } else {
                    Call::Commit { fork }
                }
            }
            (2, _) => Call::Diff { fork },
            _ => Call::List { fork },
        };
        let began = clock.fetch_add(1, SeqCst);
        if let Call::Close { .. } = call {
            drop(held.remove(file.expect("a close picks a file")));
            record(call, began, Ok(Value::Unit));
            continue;
        }
        let (outcome, opened) = run(&vfs, &call, file.map(|i| &held[i])).await;
        if let Ok(Value::Fork(fork)) = outcome {
            forks.push(fork);
            mine.push(fork);
        }
        held.extend(opened);
        record(call, began, outcome);
    }
    drop(held);
    done
}

/// The sequential model at the start of every history.
fn model() -> (Vfs, Ino, ForkId) {
    let mut vfs = Vfs::with(
        Arc::new(base()),
        Limits::default(),
        Arc::new(ManualClock::default()),
    );
    let shared = vfs.fork(ForkId::ROOT).unwrap();
    let root = vfs.reader(ForkId::ROOT).unwrap().root();
    (vfs, root, shared)
}

/// An order of `history` that respects real time and in which the model
/// answers every call as it was answered; `None` if there is none. A
/// release (`Close`) takes effect at the actor some time after its drop,
/// so it may be placed anywhere after it.
///
/// The search remembers the configurations it has left without success —
/// the calls placed so far and a digest of the model's state — and does
/// not explore one twice (Lowe's refinement of Wing and Gong's search):
/// different orders of commuting calls reach the same configuration, and
/// without this a history with much overlap takes millions of steps. A
/// digest that missed some of the state could only make the search give
/// up on an order that works (a false failure), never accept a wrong one.
fn linearize(history: &[Done], model: &Vfs, root: Ino) -> Option<Vec<usize>> {
    struct Search<'a> {
        history: &'a [Done],
        root: Ino,
        /// Every inode a call names, to digest orphans too.
        inos: Vec<Ino>,
        done: Vec<bool>,
        order: Vec<usize>,
        failed: HashSet<(Vec<bool>, u64)>,
        steps: u64,
    }
    /// The model, and a digest of each fork's origin (its parent when it
    /// was made): what a commit merges against, which neither the fork's
    /// contents nor its diff show.
    #[derive(Clone)]
    struct State {
        vfs: Vfs,
        origins: Vec<(ForkId, u64)>,
    }
    impl Search<'_> {
        fn deadline(&self, i: usize) -> u64 {
            match self.history[i].call {
                Call::Close { .. } => u64::MAX,
                _ => self.history[i].returned,
            }
        }
        /// Everything about `state` a later call may observe, hashed (the
        /// inode and fork numbers it hands out next follow from which calls
        /// succeeded, which the placed calls fix).
        fn digest(&self, state: &State) -> u64 {
            let mut h = DefaultHasher::new();
            state.origins.hash(&mut h);
            let state = &state.vfs;
            for fork in state.forks() {
                let reader = state.reader(fork).unwrap();
                let inos: Vec<_> = self
                    .inos
                    .iter()
                    .map(|&ino| (reader.stat(ino), reader.read(ino, 0, 64)))
                    .collect();
                format!(
                    "{fork:?} {:?} {:?} {:?} {:?} {:?} {inos:?}",
                    state.parent(fork),
                    common::snapshot(state, fork, self.root),
                    state.open_handles(fork),
                    state.usage(fork),
                    state.diff(fork),
                )
                .hash(&mut h);
            }
            h.finish()
        }
        fn go(&mut self, state: &State) -> bool {
            if self.order.len() == self.history.len() {
                return true;
            }
            let configuration = (self.done.clone(), self.digest(state));
            if self.failed.contains(&configuration) {
                return false;
            }
            self.steps += 1;
            assert!(
                self.steps < 2_000_000,
                "the search for an order ran too long"
            );
            let pending = (0..self.history.len()).filter(|&i| !self.done[i]);
            let first_return = pending.clone().map(|i| self.deadline(i)).min().unwrap();
            let candidates: Vec<usize> = pending
                .filter(|&i| self.history[i].began < first_return)
                .collect();
            for i in candidates {
                let mut next = state.clone();
                let outcome = replay(&mut next.vfs, self.root, &self.history[i].call);
                if outcome != self.history[i].outcome {
                    continue;
                }
                if let (Call::Fork { parent }, Ok(Value::Fork(child))) =
                    (&self.history[i].call, &outcome)
                {
                    let origin = format!("{:?}", common::snapshot(&state.vfs, *parent, self.root));
                    let mut h = DefaultHasher::new();
                    origin.hash(&mut h);
                    next.origins.push((*child, h.finish()));
                }
                self.done[i] = true;
                self.order.push(i);
                if self.go(&next) {
                    return true;
                }
                self.order.pop();
                self.done[i] = false;
            }
            self.failed.insert(configuration);
            false
        }
    }
    let mut inos: Vec<Ino> = history
        .iter()
        .filter_map(|d| match (&d.call, &d.outcome) {
            (Call::Open { .. }, Ok(Value::Opened(ino, _))) => Some(*ino),
            _ => None,
        })
        .collect();
    inos.sort();
    inos.dedup();
    let mut search = Search {
        history,
        root,
        inos,
        done: vec![false; history.len()],
        order: Vec::new(),
        failed: HashSet::new(),
        steps: 0,
    };
    let start = State {
        vfs: model.clone(),
        origins: Vec::new(),
    };
    search.go(&start).then_some(search.order)
}

/// How the history's calls reach the filesystem.
#[derive(Clone, Copy, Debug)]
enum Route {
    /// The actor task.
    Actor,
    /// The lock baseline: the actor's code under a mutex (`baseline::locked`).
    Locked,
}

/// Runs one history on a fresh filesystem and checks it.
async fn history(seed: u64, route: Route) -> usize {
    let (model, root, shared) = model();
    let builder = VfsBuilder::new()
        .image(base())
        .clock(Arc::new(ManualClock::default()));
    let vfs = match route {
        Route::Actor => builder.spawn(),
        Route::Locked => strata::actor::baseline::locked(builder),
    };
    assert_eq!(vfs.root().fork().await.map(|f| f.id()), Ok(shared));
    let clock = Arc::new(AtomicU64::new(0));
    let start = Arc::new(AtomicUsize::new(0));
    let seeds = (0..CLIENTS).map(|id| {
        (
            id,
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (id as u64 + 1),
        )
    });
    let mut history = Vec::new();
    match route {
        Route::Actor => {
            let clients: Vec<_> = seeds
                .map(|(id, seed)| {
                    tokio::spawn(client(id, vfs.clone(), shared, seed, clock.clone()))
                })
                .collect();
            for c in clients {
                history.extend(common::bounded("client", c).await.unwrap());
            }
        }
        // Under the lock no call ever waits, so tasks would run one after
        // another: each client gets a thread of its own (outside the
        // runtime, so that a client that hangs fails the test rather than
        // the runtime's shutdown waiting for it), and they start together.
        Route::Locked => {
            let (done, finished) = std::sync::mpsc::channel();
            for (id, seed) in seeds {
                let client = client(id, vfs.clone(), shared, seed, clock.clone());
                let (start, done) = (start.clone(), done.clone());
                std::thread::spawn(move || {
                    // Spin, not sleep: a thread woken from a sleep comes
                    // too late to overlap a call of a microsecond.
                    start.fetch_add(1, SeqCst);
                    while start.load(SeqCst) < CLIENTS {
                        std::thread::yield_now();
                    }
                    let _ = done.send(futures::executor::block_on(client));
                });
            }
            for _ in 0..CLIENTS {
                let calls = finished.recv_timeout(Duration::from_secs(20));
                history.extend(calls.expect("a client hung (or panicked)"));
            }
        }
    }
    history.sort_by_key(|d| d.began);
    if linearize(&history, &model, root).is_none() {
        let lines: Vec<String> = history
            .iter()
            .map(|d| {
                format!(
                    "  client {} [{:>3}, {:>3}] {:?} -> {:?}",
                    d.client, d.began, d.returned, d.call, d.outcome
                )
            })
            .collect();
        panic!(
            "history {seed} ({route:?}) is not linearizable:\n{}",
            lines.join("\n")
        );
    }
    // How many calls overlapped another, to tell that the test raced.
    history
        .iter()
        .filter(|a| {
            history
                .iter()
                .any(|b| a.client != b.client && a.began < b.returned && b.began < a.returned)
        })
        .count()
}

#[test]
fn concurrent_histories_through_the_handle_are_linearizable() {
    histories_are_linearizable(Route::Actor);
}

/// The lock baseline is measured against the actor (`benches/`); it must
/// keep the same promises for the comparison to mean anything.
#[test]
fn concurrent_histories_through_the_lock_baseline_are_linearizable() {
    histories_are_linearizable(Route::Locked);
}

fn histories_are_linearizable(route: Route) {
    let histories: u64 = std::env::var("STRATA_HISTORIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(250);
    // The lock's clients run on threads of their own: the runtime's
    // workers do not matter to them, so they get as many histories in one.
    let (workers, histories): (&[usize], u64) = match route {
        Route::Actor => (&[1, 2, 4, 8], histories),
        Route::Locked => (&[1], 4 * histories),
    };
    for &workers in workers {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap();
        let mut overlapping = 0;
        for h in 0..histories {
            let seed = workers as u64 * 1_000_003 + h;
            overlapping += rt.block_on(async { tokio::spawn(history(seed, route)).await.unwrap() });
        }
        eprintln!(
            "{route:?}, {workers} workers: {histories} histories, {overlapping} overlapping calls"
        );
        assert!(
            overlapping > 0,
            "no two calls ever overlapped on {workers} workers"
        );
    }
}
