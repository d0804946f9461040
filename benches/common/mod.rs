//! What the guest benches share: building the guests, the runtime they run
//! on, and running a wasip1 module on Strata or on wasmtime-wasi's own host
//! filesystem.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata::actor::Fork;
use strata::wasi::StrataCtx;
use strata::wasi::p1::P1Ctx;
use tokio::runtime::Runtime;
use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Builds the guests (scripts/build-guests) and returns their folder.
pub fn guests() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(root.join("scripts/build-guests"))
        .status()
        .expect("scripts/build-guests");
    assert!(status.success(), "building the guests failed");
    root.join("guests/build")
}

/// The runtime guests run on: 2 workers, or `WORKERS=n`.
pub fn runtime() -> Runtime {
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// Times `guest` run as a task on the runtime's workers — where an embedder
/// runs its guests — rather than on the thread calling `block_on`. A future
/// driven by `block_on` pays a cross-thread wake-up for every message it
/// exchanges with a task (Strata's actor, wasmtime-wasi's blocking pool);
/// a task on a worker hands off to the task it wakes on the same thread.
pub fn timed(rt: &Runtime, guest: impl Future<Output = ()> + Send + 'static) -> Duration {
    let task = rt.spawn(async move {
        let start = Instant::now();
        guest.await;
        start.elapsed()
    });
    rt.block_on(task).expect("guest task panicked")
}

/// Times `guests` run together, each a task of its own (see [`timed`]):
/// from before the first starts until the last ends.
pub fn timed_together<F>(rt: &Runtime, guests: Vec<F>) -> Duration
where
    F: Future<Output = ()> + Send + 'static,
{
    let task = rt.spawn(async move {
        let start = Instant::now();
        let tasks: Vec<_> = guests.into_iter().map(tokio::spawn).collect();
        for task in tasks {
            task.await.expect("guest task panicked");
        }
        start.elapsed()
    });
    rt.block_on(task).expect("timing task panicked")
}

/// A fresh directory on tmpfs (`/dev/shm`, else `/tmp`).
pub fn tmpfs_dir() -> tempfile::TempDir {
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

/// A WASI context builder with `args`.
pub fn wasi_args(args: &[String]) -> WasiCtxBuilder {
    let mut b = WasiCtxBuilder::new();
    b.args(args);
    b
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

/// Runs a wasip1 module on Strata's native preview1, `mount` preopened at
/// `guest_path`.
pub async fn p1_on_strata(
    engine: &Engine,
    module: &Module,
    mount: Fork,
    guest_path: &str,
    wasi: WasiCtxBuilder,
) {
    let mut wasi = wasi;
    let strata = StrataCtx::builder()
        .preopen(mount, guest_path, FsPerms::ReadWrite)
        .build()
        .await
        .unwrap();
    let store = Store::new(engine, P1Ctx::new(wasi.build(), strata));
    let mut linker = Linker::new(engine);
    strata::wasi::p1::add_to_linker_async(&mut linker, |p1: &mut P1Ctx| p1).unwrap();
    run(store, &linker, module).await;
}

/// Runs a wasip1 module on wasmtime-wasi's own p1 over the host directory
/// `dir`, in its default setting (a `spawn_blocking` hop per filesystem
/// call) or, with `blocking`, its fastest (`allow_blocking_current_thread`:
/// the syscall runs inline).
pub async fn p1_on_host(
    engine: &Engine,
    module: &Module,
    dir: &Path,
    guest_path: &str,
    wasi: WasiCtxBuilder,
    blocking: bool,
) {
    let mut b = wasi;
    b.allow_blocking_current_thread(blocking)
        .preopened_dir(dir, guest_path, FsPerms::ReadWrite)
        .unwrap();
    let store: Store<WasiP1Ctx> = Store::new(engine, b.build_p1());
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |t| t).unwrap();
    run(store, &linker, module).await;
}
