//! Real guests through wasmtime: Strata against wasmtime-wasi's own host
//! filesystem on tmpfs (`/dev/shm`), in the same run.
//!
//! - `smallfiles/*`: a C guest (wasip1) doing rounds of create + write 4 KiB,
//!   read, stat, unlink. Time is per round; throughput counts the
//!   round as four operations (ops/s).
//!   wasmtime-wasi runs in its default setting (a `spawn_blocking` hop per
//!   call) and in its fastest (`allow_blocking_current_thread`).
//! - `overwrite/*`: a C guest updating 4 KiB pages of a 16 MiB file in
//!   place, as a database does (read a page, write it back); time is per
//!   page, throughput counts the read and the write.
//! - `seqread/*`: a C guest reading a 256 MiB file in 64 KiB reads, as a
//!   wasip1 module and as a component (p2, through the preview1 adapter);
//!   `memcpy` is single-thread `copy_from_slice` of the same 256 MiB in
//!   64 KiB pieces into a 64 KiB buffer — the one copy a read must make.
//!
//! Every guest runs as a task on a 2-worker multi-thread runtime, as an
//! embedder would run it (see `timed`).
//!
//! Run: `cargo bench --bench guests` (guests are built by scripts/build-guests).

use std::future::Future;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata::actor::{Fork, VfsBuilder, VfsHandle};
use strata::fs::{Limits, MemBase};
use strata::wasi::p1::P1Ctx;
use strata::wasi::{StrataCtx, StrataCtxView, StrataView};
use tokio::runtime::Runtime;
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Config, Engine, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

const SEQ_SIZE: usize = 256 << 20;

fn guests() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(root.join("scripts/build-guests"))
        .status()
        .expect("scripts/build-guests");
    assert!(status.success(), "building the guests failed");
    root.join("guests/build")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Times `guest` run as a task on the runtime's workers — where an embedder
/// runs its guests — rather than on the thread calling `block_on`. A future
/// driven by `block_on` pays a cross-thread wake-up for every message it
/// exchanges with a task (Strata's actor, wasmtime-wasi's blocking pool);
/// a task on a worker hands off to the task it wakes on the same thread.
fn timed(rt: &Runtime, guest: impl Future<Output = ()> + Send + 'static) -> Duration {
    let task = rt.spawn(async move {
        let start = Instant::now();
        guest.await;
        start.elapsed()
    });
    rt.block_on(task).expect("guest task panicked")
}

fn tmpfs_dir() -> tempfile::TempDir {
    let parent = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    tempfile::Builder::new()
        .prefix("strata-bench")
        .tempdir_in(parent)
        .unwrap()
}

/// Runs `_start` and checks the guest succeeded.
async fn run<T: Send + 'static>(mut store: Store<T>, linker: &Linker<T>, module: &Module) {
    let instance = linker
        .instantiate_async(&mut store, module)
        .await
        .expect("instantiate");
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .expect("_start");
    if let Err(e) = start.call_async(&mut store, ()).await {
        let code = e.downcast_ref::<wasmtime_wasi::I32Exit>().map(|e| e.0);
        assert_eq!(code, Some(0), "guest failed: {e:?}");
    }
}

async fn p1_on_strata(
    engine: &Engine,
    module: &Module,
    mount: Fork,
    guest_path: &str,
    args: &[String],
) {
    let wasi = WasiCtxBuilder::new().args(args).build();
    let strata = StrataCtx::builder()
        .preopen(mount, guest_path, FsPerms::ReadWrite)
        .build()
        .await
        .unwrap();
    let store = Store::new(engine, P1Ctx::new(wasi, strata));
    let mut linker = Linker::new(engine);
    strata::wasi::p1::add_to_linker_async(&mut linker, |p1: &mut P1Ctx| p1).unwrap();
    run(store, &linker, module).await;
}

async fn p1_on_host(
    engine: &Engine,
    module: &Module,
    dir: &Path,
    guest_path: &str,
    args: &[String],
    blocking: bool,
) {
    let mut b = WasiCtxBuilder::new();
    b.args(args)
        .allow_blocking_current_thread(blocking)
        .preopened_dir(dir, guest_path, FsPerms::ReadWrite)
        .unwrap();
    let store: Store<WasiP1Ctx> = Store::new(engine, b.build_p1());
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |t| t).unwrap();
    run(store, &linker, module).await;
}

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
                p1_on_strata(&engine, &module, mount, "/work", &a).await
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
                    p1_on_host(&engine, &module, &host, "/work", &a, blocking).await
                })
            })
        });
    }
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
                p1_on_strata(&engine, &module, mount, "/work", &a).await
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
                    p1_on_host(&engine, &module, &host, "/work", &a, blocking).await
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
                p1_on_strata(&engine, &module, mount, "/data", &a).await
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
                    p1_on_host(&engine, &module, &host, "/data", &a, blocking).await
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
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = bench_smallfiles, bench_overwrite, bench_seqread
}
criterion_main!(benches);
