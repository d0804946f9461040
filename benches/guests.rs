//! Real guests through wasmtime: Strata against wasmtime-wasi's own host
//! filesystem on tmpfs (`/dev/shm`), in the same run.
//!
//! - `smallfiles/*`: a C guest (wasip1; and its WASI 0.3 twin,
//!   `guests/p3/p3smallfiles.c`, through streams) doing rounds of create +
//!   write 4 KiB, read, stat, unlink. Time is per round; throughput counts the
//!   round as four operations (ops/s).
//!   wasmtime-wasi runs in its default setting (a `spawn_blocking` hop per
//!   call) and in its fastest (`allow_blocking_current_thread`).
//! - `concurrent/*`: 1, 8 and 32 such guests at once, each on a fork of its
//!   own (Strata) or a directory of its own (wasmtime-wasi), on the actor
//!   and on the lock baseline (`locked-actor`: the actor's code under a
//!   mutex, `actor::baseline::locked`). Time is per round, all guests
//!   together.
//! - `fairness/*`: a guest doing ten rounds of the small-file workload
//!   beside one that only stats (`mutations stat`, 2 million times: every
//!   call served at once from the snapshot, so it never waits), both on one
//!   current-thread runtime with their actor (one shard, as ARCHITECTURE
//!   advises); time is the small-file guest's, for its ten rounds. What it
//!   shows is the cooperative budget that makes a guest whose calls never
//!   wait yield now and then (`served_at_once`).
//! - `overwrite/*`: a C guest updating 4 KiB pages of a 16 MiB file in
//!   place, as a database does (read a page, write it back); time is per
//!   page, throughput counts the read and the write.
//! - `seqread/*`: a C guest reading a 256 MiB file in 64 KiB reads, as a
//!   wasip1 module, as a component (p2, through the preview1 adapter), and
//!   as a WASI 0.3 component (`guests/p3/p3seqread.c`, `read-via-stream`);
//!   `memcpy` is single-thread `copy_from_slice` of the same 256 MiB in
//!   64 KiB pieces into a 64 KiB buffer — the one copy a read must make.
//!
//! Every guest runs as a task on a 2-worker multi-thread runtime, as an
//! embedder would run it (see `timed`).
//!
//! Run: `cargo bench --bench guests` (guests are built by scripts/build-guests).

mod common;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    guests, p1_on_host, p1_on_strata, runtime, timed, timed_together, tmpfs_dir, wasi_args,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use strata::actor::{Fork, VfsBuilder, VfsHandle, baseline};
use strata::fs::{Limits, MemBase};
use strata::wasi::{StrataCtx, StrataCtxView, StrataView};
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Config, Engine, Module, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

const SEQ_SIZE: usize = 256 << 20;

struct Component2 {
    wasi: WasiCtx,
    strata: StrataCtx,
    table: ResourceTable,
}

impl WasiView for Component2 {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl StrataView for Component2 {
    fn strata(&mut self) -> StrataCtxView<'_> {
        StrataCtxView {
            ctx: &mut self.strata,
            table: &mut self.table,
        }
    }
}

async fn run_component(
    mut store: Store<Component2>,
    linker: &wasmtime::component::Linker<Component2>,
    component: &Component,
) {
    let command =
        wasmtime_wasi::p2::bindings::Command::instantiate_async(&mut store, component, linker)
            .await
            .expect("instantiate");
    let result = command
        .wasi_cli_run()
        .call_run(&mut store)
        .await
        .expect("run");
    assert!(result.is_ok(), "guest failed");
}

async fn p2_on_strata(engine: &Engine, component: &Component, mount: Fork, args: &[String]) {
    let strata = StrataCtx::builder()
        .preopen(mount, "/data", FsPerms::ReadWrite)
        .build()
        .await
        .unwrap();
    let data = Component2 {
        wasi: WasiCtxBuilder::new().args(args).build(),
        strata,
        table: ResourceTable::new(),
    };
    let mut linker = wasmtime::component::Linker::new(engine);
    strata::wasi::add_to_linker_async(&mut linker).unwrap();
    run_component(Store::new(engine, data), &linker, component).await;
}

async fn p2_on_host(
    engine: &Engine,
    component: &Component,
    dir: &Path,
    args: &[String],
    blocking: bool,
) {
    let mut b = WasiCtxBuilder::new();
    b.args(args)
        .allow_blocking_current_thread(blocking)
        .preopened_dir(dir, "/data", FsPerms::ReadWrite)
        .unwrap();
    let data = Component2 {
        wasi: b.build(),
        strata: StrataCtx::default(),
        table: ResourceTable::new(),
    };
    let mut linker = wasmtime::component::Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    run_component(Store::new(engine, data), &linker, component).await;
}

fn componentize(path: &Path) -> Vec<u8> {
    let module = std::fs::read(path).unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .unwrap()
        .encode()
        .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn bench_smallfiles(c: &mut Criterion) {
    let dir = guests();
    let engine = Engine::new(&Config::new()).unwrap();
    let module = Module::from_file(&engine, dir.join("smallfiles.wasm")).unwrap();
    let rt = runtime();
    let mut group = c.benchmark_group("smallfiles");
    group.throughput(Throughput::Elements(4));

    let vfs: VfsHandle = rt.block_on(async { VfsBuilder::new().limits(Limits::default()).spawn() });
    let fork = rt.block_on(vfs.root().fork()).unwrap();
    group.bench_function("strata p1", |b| {
        b.iter_custom(|iters| {
            let mount = fork.clone();
            let a = args(&["smallfiles", "/work", &iters.to_string()]);
            let (engine, module) = (engine.clone(), module.clone());
            timed(&rt, async move {
                p1_on_strata(&engine, &module, mount, "/work", wasi_args(&a)).await
            })
        })
    });
    let host = tmpfs_dir();
    for (name, blocking) in [
        ("wasmtime-wasi p1 (default)", false),
        ("wasmtime-wasi p1 (blocking)", true),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let a = args(&["smallfiles", "/work", &iters.to_string()]);
                let (engine, module, host) =
                    (engine.clone(), module.clone(), host.path().to_owned());
                timed(&rt, async move {
                    p1_on_host(&engine, &module, &host, "/work", wasi_args(&a), blocking).await
                })
            })
        });
    }

    // WASI 0.3: the same rounds through streams (guests/p3/p3smallfiles.c).
    let p3 = P3Guest::new(&dir.join("p3smallfiles.core.wasm"));
    p3.rows(&mut group, &rt, &fork, host.path(), |iters| {
        args(&["smallfiles", &iters.to_string()])
    });
    group.finish();
}

/// Pages of the `overwrite` guest's file (16 MiB).
const PAGES: usize = 4096;

fn bench_overwrite(c: &mut Criterion) {
    let dir = guests();
    let engine = Engine::new(&Config::new()).unwrap();
    let module = Module::from_file(&engine, dir.join("overwrite.wasm")).unwrap();
    let rt = runtime();
    let mut group = c.benchmark_group("overwrite");
    group.throughput(Throughput::Elements(2));
    let content: Vec<u8> = (0..PAGES * 4096).map(|i| (i % 253) as u8).collect();
    let a = |iters: u64| {
        args(&[
            "overwrite",
            "/work/db",
            &PAGES.to_string(),
            &iters.to_string(),
        ])
    };

    let vfs: VfsHandle = rt.block_on(async { VfsBuilder::new().limits(Limits::default()).spawn() });
    let fork = rt.block_on(vfs.root().fork()).unwrap();
    rt.block_on(fork.write_file("db", &content)).unwrap();
    group.bench_function("strata p1", |b| {
        b.iter_custom(|iters| {
            let mount = fork.clone();
            let (engine, module, a) = (engine.clone(), module.clone(), a(iters));
            timed(&rt, async move {
                p1_on_strata(&engine, &module, mount, "/work", wasi_args(&a)).await
            })
        })
    });
    let host = tmpfs_dir();
    std::fs::write(host.path().join("db"), &content).unwrap();
    for (name, blocking) in [
        ("wasmtime-wasi p1 (default)", false),
        ("wasmtime-wasi p1 (blocking)", true),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (engine, module, host, a) = (
                    engine.clone(),
                    module.clone(),
                    host.path().to_owned(),
                    a(iters),
                );
                timed(&rt, async move {
                    p1_on_host(&engine, &module, &host, "/work", wasi_args(&a), blocking).await
                })
            })
        });
    }
    group.finish();
}

fn bench_seqread(c: &mut Criterion) {
    let dir = guests();
    let engine = Engine::new(&Config::new()).unwrap();
    let module = Module::from_file(&engine, dir.join("seqread.wasm")).unwrap();
    let component = Component::new(&engine, componentize(&dir.join("seqread.wasm"))).unwrap();
    let rt = runtime();
    let content: Vec<u8> = (0..SEQ_SIZE).map(|i| (i % 251) as u8).collect();

    let mut group = c.benchmark_group("seqread");
    group.throughput(Throughput::Bytes(SEQ_SIZE as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));

    // The single-thread copy the guest's reads must at least pay.
    let mut sink = vec![0u8; 64 << 10];
    group.bench_function("memcpy 64 KiB pieces", |b| {
        b.iter(|| {
            for piece in content.chunks(64 << 10) {
                sink[..piece.len()].copy_from_slice(piece);
                black_box(&mut sink);
            }
        })
    });

    let image = MemBase::builder()
        .file("data.bin", Bytes::from(content.clone()))
        .build();
    let vfs = rt.block_on(async {
        VfsBuilder::new()
            .image(image)
            .limits(Limits::unlimited())
            .spawn()
    });
    let mount = vfs.root();
    let host = tmpfs_dir();
    std::fs::write(host.path().join("data.bin"), &content).unwrap();
    drop(content);

    let reps = |iters: u64| args(&["seqread", "/data/data.bin", &iters.to_string()]);
    group.bench_function("strata p1", |b| {
        b.iter_custom(|iters| {
            let (engine, module, mount, a) =
                (engine.clone(), module.clone(), mount.clone(), reps(iters));
            timed(&rt, async move {
                p1_on_strata(&engine, &module, mount, "/data", wasi_args(&a)).await
            })
        })
    });
    for (name, blocking) in [
        ("wasmtime-wasi p1 (default)", false),
        ("wasmtime-wasi p1 (blocking)", true),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (engine, module, host, a) = (
                    engine.clone(),
                    module.clone(),
                    host.path().to_owned(),
                    reps(iters),
                );
                timed(&rt, async move {
                    p1_on_host(&engine, &module, &host, "/data", wasi_args(&a), blocking).await
                })
            })
        });
    }
    group.bench_function("strata p2", |b| {
        b.iter_custom(|iters| {
            let (engine, component, mount, a) = (
                engine.clone(),
                component.clone(),
                mount.clone(),
                reps(iters),
            );
            timed(&rt, async move {
                p2_on_strata(&engine, &component, mount, &a).await
            })
        })
    });
    for (name, blocking) in [
        ("wasmtime-wasi p2 (default)", false),
        ("wasmtime-wasi p2 (blocking)", true),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (engine, component, host, a) = (
                    engine.clone(),
                    component.clone(),
                    host.path().to_owned(),
                    reps(iters),
                );
                timed(&rt, async move {
                    p2_on_host(&engine, &component, &host, &a, blocking).await
                })
            })
        });
    }

    // WASI 0.3: the same file through `read-via-stream` (guests/p3/p3seqread.c).
    let p3 = P3Guest::new(&dir.join("p3seqread.core.wasm"));
    p3.rows(&mut group, &rt, &mount, host.path(), |iters| {
        args(&["seqread", "data.bin", &iters.to_string()])
    });
    group.finish();
}

/// A WASI 0.3 guest (guests/p3), compiled for an engine with the async
/// component model on.
struct P3Guest {
    engine: Engine,
    component: Component,
}

impl P3Guest {
    fn new(core: &Path) -> P3Guest {
        let mut config = Config::new();
        config.wasm_component_model_async(true);
        let engine = Engine::new(&config).unwrap();
        let component = Component::new(&engine, p3_componentize(core)).unwrap();
        P3Guest { engine, component }
    }

    /// The group's three WASI 0.3 rows: Strata on `mount`, wasmtime-wasi's
    /// p3 default and inline on `host`; `args(iters)` is the command line.
    fn rows(
        &self,
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        rt: &tokio::runtime::Runtime,
        mount: &Fork,
        host: &Path,
        args: impl Fn(u64) -> Vec<String>,
    ) {
        group.bench_function("strata p3", |b| {
            b.iter_custom(|iters| {
                let (engine, component, mount, a) = (
                    self.engine.clone(),
                    self.component.clone(),
                    mount.clone(),
                    args(iters),
                );
                timed(rt, async move {
                    p3_on_strata(&engine, &component, mount, &a).await
                })
            })
        });
        for (name, blocking) in [
            ("wasmtime-wasi p3 (default)", false),
            ("wasmtime-wasi p3 (blocking)", true),
        ] {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let (engine, component, host, a) = (
                        self.engine.clone(),
                        self.component.clone(),
                        host.to_owned(),
                        args(iters),
                    );
                    timed(rt, async move {
                        p3_on_host(&engine, &component, &host, &a, blocking).await
                    })
                })
            });
        }
    }
}

/// A p3 guest's core module (guests/p3) as a component: its world's type
/// embedded, libc's preview1 imports served by the reactor adapter.
fn p3_componentize(path: &Path) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(root.join("guests/p3/wit")).unwrap();
    let world = resolve.select_world(&[package], Some("p3fs")).unwrap();
    let mut module = std::fs::read(path).unwrap();
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .unwrap()
        .encode()
        .unwrap()
}

/// Runs `wasi:cli/run@0.3.0` inside `run_concurrent`; the guest must succeed.
async fn run_p3(
    mut store: Store<Component2>,
    linker: &wasmtime::component::Linker<Component2>,
    component: &Component,
) {
    let command =
        wasmtime_wasi::p3::bindings::Command::instantiate_async(&mut store, component, linker)
            .await
            .expect("instantiate");
    let result = store
        .run_concurrent(async move |s| command.wasi_cli_run().call_run(s).await)
        .await
        .expect("run")
        .expect("run");
    assert!(result.is_ok(), "guest failed");
}

async fn p3_on_strata(engine: &Engine, component: &Component, mount: Fork, args: &[String]) {
    let strata = StrataCtx::builder()
        .preopen(mount, "/", FsPerms::ReadWrite)
        .build()
        .await
        .unwrap();
    let data = Component2 {
        wasi: WasiCtxBuilder::new().args(args).build(),
        strata,
        table: ResourceTable::new(),
    };
    let mut linker = wasmtime::component::Linker::new(engine);
    strata::wasi::add_to_linker_async(&mut linker).unwrap();
    strata::wasi::p3::add_to_linker(&mut linker).unwrap();
    run_p3(Store::new(engine, data), &linker, component).await;
}

async fn p3_on_host(
    engine: &Engine,
    component: &Component,
    dir: &Path,
    args: &[String],
    blocking: bool,
) {
    let mut b = WasiCtxBuilder::new();
    b.args(args)
        .allow_blocking_current_thread(blocking)
        .preopened_dir(dir, "/", FsPerms::ReadWrite)
        .unwrap();
    let data = Component2 {
        wasi: b.build(),
        strata: StrataCtx::default(),
        table: ResourceTable::new(),
    };
    let mut linker = wasmtime::component::Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi::p3::add_to_linker(&mut linker).unwrap();
    run_p3(Store::new(engine, data), &linker, component).await;
}

/// Rounds of `guests` guests together doing `rounds` in all: who does how many.
fn shares(rounds: u64, guests: usize) -> impl Iterator<Item = u64> {
    let n = guests as u64;
    (0..n).map(move |g| rounds / n + u64::from(g < rounds % n))
}

fn bench_concurrent(c: &mut Criterion) {
    let dir = guests();
    let engine = Engine::new(&Config::new()).unwrap();
    let module = Module::from_file(&engine, dir.join("smallfiles.wasm")).unwrap();
    let rt = runtime();
    let mut group = c.benchmark_group("concurrent");
    group.throughput(Throughput::Elements(4));
    for guests in [1, 8, 32] {
        let designs = [
            ("actor", rt.block_on(async { VfsBuilder::new().spawn() })),
            ("locked-actor", baseline::locked(VfsBuilder::new())),
        ];
        for (name, vfs) in designs {
            let forks: Vec<Fork> = rt.block_on(async {
                let mut forks = Vec::new();
                for _ in 0..guests {
                    forks.push(vfs.root().fork().await.unwrap());
                }
                forks
            });
            group.bench_with_input(BenchmarkId::new(name, guests), &guests, |b, &guests| {
                b.iter_custom(|rounds| {
                    let runs = forks.iter().zip(shares(rounds, guests)).map(|(fork, n)| {
                        let a = args(&["smallfiles", "/work", &n.to_string()]);
                        let (engine, module, mount) =
                            (engine.clone(), module.clone(), fork.clone());
                        async move {
                            p1_on_strata(&engine, &module, mount, "/work", wasi_args(&a)).await
                        }
                    });
                    timed_together(&rt, runs.collect())
                })
            });
        }
        // What ARCHITECTURE advises an embedder to avoid the hand-off's
        // wake-up: shards, each its own filesystem over the one image, its
        // actor and its guests on a current-thread runtime of its own; one
        // shard per worker thread (2), the guests dealt out between them.
        let image = Arc::new(MemBase::builder().build());
        let shards: Vec<(tokio::runtime::Runtime, Vec<Fork>)> = (0..guests.min(2))
            .map(|s| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let vfs = rt.block_on(async { VfsBuilder::new().image(image.clone()).spawn() });
                let mut forks = Vec::new();
                for _ in (s..guests).step_by(2) {
                    forks.push(rt.block_on(vfs.root().fork()).unwrap());
                }
                (rt, forks)
            })
            .collect();
        group.bench_with_input(
            BenchmarkId::new("actor, 1-thread shards", guests),
            &guests,
            |b, &guests| {
                b.iter_custom(|rounds| {
                    // Guest g is on shard g % 2 (as the forks were made).
                    let shares: Vec<u64> = shares(rounds, guests).collect();
                    let work: Vec<Vec<(Fork, u64)>> = shards
                        .iter()
                        .enumerate()
                        .map(|(s, (_, forks))| {
                            let mine = shares.iter().skip(s).step_by(2).copied();
                            forks.iter().cloned().zip(mine).collect()
                        })
                        .collect();
                    let start = Instant::now();
                    std::thread::scope(|scope| {
                        for ((rt, _), guests) in shards.iter().zip(work) {
                            let (engine, module) = (&engine, &module);
                            scope.spawn(move || {
                                rt.block_on(async move {
                                    let tasks: Vec<_> = guests
                                        .into_iter()
                                        .map(|(mount, n)| {
                                            let a = args(&["smallfiles", "/work", &n.to_string()]);
                                            let (engine, module) = (engine.clone(), module.clone());
                                            tokio::spawn(async move {
                                                p1_on_strata(
                                                    &engine,
                                                    &module,
                                                    mount,
                                                    "/work",
                                                    wasi_args(&a),
                                                )
                                                .await
                                            })
                                        })
                                        .collect();
                                    for task in tasks {
                                        task.await.expect("guest task panicked");
                                    }
                                })
                            });
                        }
                    });
                    start.elapsed()
                })
            },
        );
        let host = tmpfs_dir();
        let dirs: Vec<_> = (0..guests)
            .map(|g| {
                let d = host.path().join(format!("guest{g}"));
                std::fs::create_dir(&d).unwrap();
                d
            })
            .collect();
        for (name, blocking) in [
            ("wasmtime-wasi (default)", false),
            ("wasmtime-wasi (inline)", true),
        ] {
            group.bench_with_input(BenchmarkId::new(name, guests), &guests, |b, &guests| {
                b.iter_custom(|rounds| {
                    let runs = dirs.iter().zip(shares(rounds, guests)).map(|(dir, n)| {
                        let a = args(&["smallfiles", "/work", &n.to_string()]);
                        let (engine, module, dir) = (engine.clone(), module.clone(), dir.clone());
                        async move {
                            p1_on_host(&engine, &module, &dir, "/work", wasi_args(&a), blocking)
                                .await
                        }
                    });
                    timed_together(&rt, runs.collect())
                })
            });
        }
    }
    group.finish();
}

fn bench_fairness(c: &mut Criterion) {
    const ROUNDS: u64 = 10;
    let dir = guests();
    let engine = Engine::new(&Config::new()).unwrap();
    let smallfiles = Module::from_file(&engine, dir.join("smallfiles.wasm")).unwrap();
    let stats = Module::from_file(&engine, dir.join("mutations.wasm")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let vfs: VfsHandle = rt.block_on(async { VfsBuilder::new().spawn() });
    let fork = rt.block_on(vfs.root().fork()).unwrap();
    let prepare = args(&["mutations", "prepare", "/work/d", "100", "0"]);
    rt.block_on(p1_on_strata(
        &engine,
        &stats,
        fork.clone(),
        "/work",
        wasi_args(&prepare),
    ));
    let mut group = c.benchmark_group("fairness");
    group.sample_size(10);
    group.throughput(Throughput::Elements(4 * ROUNDS));
    group.bench_function("smallfiles beside a stat loop", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(async {
                    let a = args(&["mutations", "stat", "/work/d", "100", "2000000"]);
                    let (engine2, stats, mount) = (engine.clone(), stats.clone(), fork.clone());
                    let stat_loop = tokio::spawn(async move {
                        p1_on_strata(&engine2, &stats, mount, "/work", wasi_args(&a)).await
                    });
                    // Both start at once: the stat loop first, as it was
                    // spawned first.
                    let a = args(&["smallfiles", "/work", &ROUNDS.to_string()]);
                    let (engine, smallfiles, mount) =
                        (engine.clone(), smallfiles.clone(), fork.clone());
                    let start = Instant::now();
                    // Timed in the guest's task: the thread may run a slice
                    // of the stat loop before it gets back here.
                    let took = tokio::spawn(async move {
                        p1_on_strata(&engine, &smallfiles, mount, "/work", wasi_args(&a)).await;
                        start.elapsed()
                    })
                    .await
                    .unwrap();
                    // (Finished first is what a guest that never yields
                    // does; anything but that or the abort is a failure.)
                    stat_loop.abort();
                    let stopped = stat_loop.await;
                    assert!(
                        stopped.as_ref().is_ok() || stopped.is_err_and(|e| e.is_cancelled()),
                        "the stat loop failed"
                    );
                    took
                });
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = bench_smallfiles, bench_concurrent, bench_fairness, bench_overwrite, bench_seqread
}
criterion_main!(benches);
