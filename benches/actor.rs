//! The actor against the lock designs (`actor::baseline`: a `std` mutex
//! held for every call, a tokio mutex held across fetches, a `std` mutex
//! for mutations with reads on published snapshots, and the actor's own
//! code under a `std` mutex instead of on its task — `locked-actor`), on a
//! 2-worker runtime, for 1–256 concurrent clients.
//!
//! - `memory/*`: 256 small files (4 KiB) in one fork, opened once; each
//!   operation reads or overwrites a whole file picked at random. Workloads:
//!   `mix` (80 % reads, 20 % writes), `read` (all reads), `write` (all writes),
//!   and `files`: the mix as a program does it, each operation opening the
//!   file by name, reading or overwriting it, and closing it.
//! - `latency/*`: the base comes from a backend that takes 1 ms per fetch.
//!   Every operation opens a file never touched before (so every one misses:
//!   nothing is served from a warm cache), reads it (80 %) or overwrites it
//!   (20 %), and closes it.
//!
//! Criterion reports time per operation (all clients together) and
//! operations per second. Run: `cargo bench --bench actor`
//! (a subset: `cargo bench --bench actor -- memory/mix`). `WORKERS=n` sets
//! the runtime's workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::future::{BoxFuture, FutureExt};
use strata::actor::baseline::{self, Client, SnapshotMutexVfs, StdMutexVfs, TokioMutexVfs};
use strata::actor::{Backend, Delayed, VfsBuilder};
use strata::fs::{
    BaseNode, DirEntry, Errno, ForkId, Ino, Kind, Limits, Loaded, MemBase, Name, Need, OpenFlags,
    Times, Timestamp,
};

const FILES: usize = 256;
const FILE_SIZE: usize = 4096;
const CLIENTS: [usize; 5] = [1, 4, 16, 64, 256];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::env::var("WORKERS")
                .ok()
                .and_then(|w| w.parse().ok())
                .unwrap_or(2),
        )
        .enable_all()
        .build()
        .unwrap()
}

#[derive(Clone, Copy)]
enum Mix {
    Mixed,
    Reads,
    Writes,
    /// `Mixed`, with an open by name and a close around each operation.
    Files,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::Mixed => "mix",
            Mix::Reads => "read",
            Mix::Writes => "write",
            Mix::Files => "files",
        }
    }

    /// Whether operation number `n` (from a per-client random stream) writes.
    fn writes(self, n: u64) -> bool {
        match self {
            Mix::Mixed | Mix::Files => n % 5 == 0,
            Mix::Reads => false,
            Mix::Writes => true,
        }
    }
}

/// A small, fast pseudo-random stream per client.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Splits `iters` operations over `clients` tasks, runs them, times them.
/// `client_loop(c, n)` is client `c` doing its `n` operations.
async fn run_clients<F, Fut>(clients: usize, iters: u64, client_loop: F) -> Duration
where
    F: Fn(usize, u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let share = iters / clients as u64 + u64::from((c as u64) < iters % clients as u64);
        tasks.push(tokio::spawn(client_loop(c, share)));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

/// Opens the root and the 256 files through `client` (they live in its root
/// fork).
async fn open_files(client: &impl Client) -> (Ino, Arc<Vec<Ino>>) {
    let root = client.open_root(ForkId::ROOT).await.unwrap();
    let mut inos = Vec::new();
    for i in 0..FILES {
        let (ino, _) = client
            .open_at(
                ForkId::ROOT,
                root,
                &format!("f{i}"),
                OpenFlags::default(),
                true,
            )
            .await
            .unwrap();
        inos.push(ino);
    }
    (root, Arc::new(inos))
}

fn memory_image() -> MemBase {
    let mut b = MemBase::builder();
    for i in 0..FILES {
        b = b.file(&format!("f{i}"), vec![i as u8; FILE_SIZE]);
    }
    b.build()
}

/// One client's share of the in-memory workload.
async fn memory_client(
    client: impl Client,
    (root, files): (Ino, Arc<Vec<Ino>>),
    mix: Mix,
    seed: u64,
    ops: u64,
    data: Bytes,
) {
    let mut state = seed | 1;
    for _ in 0..ops {
        let n = next(&mut state);
        let pick = (n >> 8) as usize % FILES;
        let ino = match mix {
            Mix::Files => {
                let path = format!("f{pick}");
                let flags = OpenFlags::default();
                let (ino, _) = client
                    .open_at(ForkId::ROOT, root, &path, flags, mix.writes(n))
                    .await
                    .unwrap();
                ino
            }
            _ => files[pick],
        };
        if mix.writes(n) {
            client
                .write(ForkId::ROOT, ino, 0, data.clone())
                .await
                .unwrap();
        } else {
            let got = client
                .read(ForkId::ROOT, ino, 0, FILE_SIZE as u64)
                .await
                .unwrap();
            assert_eq!(got.iter().map(Bytes::len).sum::<usize>(), FILE_SIZE);
        }
        if let Mix::Files = mix {
            client.close(ForkId::ROOT, ino).await;
        }
    }
}

fn bench_memory(c: &mut Criterion) {
    let rt = runtime();
    let data = Bytes::from(vec![7u8; FILE_SIZE]);
    for mix in [Mix::Mixed, Mix::Reads, Mix::Writes, Mix::Files] {
        let mut group = c.benchmark_group(format!("memory/{}", mix.name()));
        group.throughput(Throughput::Elements(1));
        for clients in CLIENTS {
            macro_rules! design {
                ($name:expr, $client:expr) => {{
                    let client = rt.block_on(async { $client });
                    let files = rt.block_on(open_files(&client));
                    group.bench_with_input(
                        BenchmarkId::new($name, clients),
                        &clients,
                        |b, &clients| {
                            b.iter_custom(|iters| {
                                rt.block_on(run_clients(clients, iters, |c, ops| {
                                    let seed = 0x5EED_0000 + c as u64;
                                    memory_client(
                                        client.clone(),
                                        files.clone(),
                                        mix,
                                        seed,
                                        ops,
                                        data.clone(),
                                    )
                                }))
                            })
                        },
                    );
                }};
            }
            design!("actor", VfsBuilder::new().image(memory_image()).spawn());
            design!(
                "std-mutex",
                StdMutexVfs::new(memory_image(), Limits::default())
            );
            design!(
                "tokio-mutex",
                TokioMutexVfs::new(memory_image(), Limits::default())
            );
            design!(
                "snapshot-mutex",
                SnapshotMutexVfs::new(memory_image(), Limits::default())
            );
            design!(
                "locked-actor",
                baseline::locked(VfsBuilder::new().image(memory_image()))
            );
        }
        group.finish();
    }
}

/// A base of as many 4 KiB files as anyone asks for (`/f0`, `/f1`, …),
/// generated on demand, so every operation can touch a new file.
struct Generated;

const GEN_ROOT: Ino = Ino(1);

impl Generated {
    fn node(link: Option<(Ino, Name)>, kind: Kind) -> Arc<BaseNode> {
        Arc::new(BaseNode {
            kind,
            size: if kind == Kind::File {
                FILE_SIZE as u64
            } else {
                0
            },
            subdirs: 0,
            times: Times::all(Timestamp::ZERO),
            link,
            target: None,
        })
    }
}

impl Backend for Generated {
    fn root(&self) -> Ino {
        GEN_ROOT
    }

    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>> {
        // The work happens in the future, on the fetch's task, as it would
        // for a remote store.
        let need = need.clone();
        async move {
            let mut loaded = Loaded::default();
            match &need {
                Need::Node(ino) if *ino == GEN_ROOT => {
                    loaded.nodes.push((*ino, Generated::node(None, Kind::Dir)))
                }
                Need::Node(ino) => {
                    let name: Name = format!("f{}", ino.0 - 2).into();
                    loaded
                        .nodes
                        .push((*ino, Generated::node(Some((GEN_ROOT, name)), Kind::File)));
                }
                Need::Lookup(dir, name) if *dir == GEN_ROOT => {
                    let entry = name
                        .strip_prefix('f')
                        .and_then(|n| n.parse::<u64>().ok())
                        .map(|n| DirEntry {
                            name: name.clone(),
                            ino: Ino(n + 2),
                            kind: Kind::File,
                        });
                    if let Some(e) = &entry {
                        loaded.nodes.push((
                            e.ino,
                            Generated::node(Some((GEN_ROOT, name.clone())), Kind::File),
                        ));
                    }
                    loaded.lookups.push((*dir, name.clone(), entry));
                }
                Need::Chunk(ino, 0) => {
                    loaded
                        .chunks
                        .push((*ino, 0, Bytes::from(vec![ino.0 as u8; FILE_SIZE])))
                }
                _ => return Err(Errno::Io),
            }
            Ok(loaded)
        }
        .boxed()
    }
}

fn slow() -> Delayed<Generated> {
    Delayed::new(Generated, Duration::from_millis(1))
}

/// One client's share of the latency workload: each operation opens a file
/// no one has touched yet.
async fn latency_client(
    client: impl Client,
    root: Ino,
    counter: Arc<AtomicU64>,
    mix: Mix,
    ops: u64,
    data: Bytes,
) {
    for _ in 0..ops {
        let file = counter.fetch_add(1, Ordering::Relaxed);
        let write = mix.writes(file.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7);
        let (ino, _) = client
            .open_at(
                ForkId::ROOT,
                root,
                &format!("f{file}"),
                OpenFlags::default(),
                write,
            )
            .await
            .unwrap();
        if write {
            client
                .write(ForkId::ROOT, ino, 0, data.clone())
                .await
                .unwrap();
        } else {
            let got = client
                .read(ForkId::ROOT, ino, 0, FILE_SIZE as u64)
                .await
                .unwrap();
            assert_eq!(got.iter().map(Bytes::len).sum::<usize>(), FILE_SIZE);
        }
        client.close(ForkId::ROOT, ino).await;
    }
}

fn bench_latency(c: &mut Criterion) {
    let rt = runtime();
    let data = Bytes::from(vec![7u8; FILE_SIZE]);
    let mix = Mix::Mixed;
    let mut group = c.benchmark_group("latency/mix");
    group.throughput(Throughput::Elements(1));
    for clients in [1, 4, 16, 64, 256] {
        macro_rules! design {
            ($name:expr, $make:expr) => {{
                group.bench_with_input(
                    BenchmarkId::new($name, clients),
                    &clients,
                    |b, &clients| {
                        b.iter_custom(|iters| {
                            // A fresh filesystem (and cache) each time: every open misses.
                            let data = data.clone();
                            rt.block_on(async move {
                                let client = $make;
                                let root = Client::open_root(&client, ForkId::ROOT).await.unwrap();
                                let counter = Arc::new(AtomicU64::new(0));
                                run_clients(clients, iters, |_, ops| {
                                    latency_client(
                                        client.clone(),
                                        root,
                                        counter.clone(),
                                        mix,
                                        ops,
                                        data.clone(),
                                    )
                                })
                                .await
                            })
                        })
                    },
                );
            }};
        }
        design!("actor", VfsBuilder::new().backend(slow()).spawn());
        design!(
            "std-mutex",
            StdMutexVfs::with_backend(slow(), Limits::default())
        );
        design!(
            "snapshot-mutex",
            SnapshotMutexVfs::with_backend(slow(), Limits::default())
        );
        // One client at a time holds the lock through its fetches: keep the
        // sample small or this design alone takes minutes.
        design!(
            "tokio-mutex",
            TokioMutexVfs::with_backend(slow(), Limits::default())
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_memory, bench_latency
}
criterion_main!(benches);
