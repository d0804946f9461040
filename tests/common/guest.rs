//! Building and running guest programs for the tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use strata::actor::Fork;
use strata::wasi::{StrataCtx, StrataCtxView, StrataView};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Builds the guests (installing toolchains if needed) once per test binary
/// and returns the path of `name`'s module. Without a toolchain, guest tests
/// are skipped locally — and fail under `CI=true`.
pub fn guest(name: &str) -> Option<PathBuf> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = BUILT.get_or_init(|| {
        let status = std::process::Command::new(root.join("scripts/build-guests"))
            .status()
            .map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("scripts/build-guests: {status}"))
        }
    });
    match built {
        Ok(()) => Some(root.join("guests/build").join(format!("{name}.wasm"))),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("cannot build guests: {e}")
        }
        Err(e) => {
            eprintln!("skipping: cannot build guests ({e})");
            None
        }
    }
}

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(&Config::new()).expect("engine"))
}

/// A wasip1 module turned into a component with the preview1 command adapter.
pub fn component_from_module(path: &Path) -> Component {
    Component::new(engine(), component_bytes(path)).expect("compile component")
}

/// The component encoding of a wasip1 module (preview1 command adapter).
pub fn component_bytes(path: &Path) -> Vec<u8> {
    let module = std::fs::read(path).expect("read guest");
    encode(
        &module,
        wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    )
}

/// `module` as a component, its preview1 imports served by `adapter`.
fn encode(module: &[u8], adapter: &[u8]) -> Vec<u8> {
    wit_component::ComponentEncoder::default()
        .module(module)
        .expect("module")
        .validate(true)
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            adapter,
        )
        .expect("adapter")
        .encode()
        .expect("encode")
}

/// Store data for a guest on Strata.
pub struct OnStrata {
    wasi: WasiCtx,
    strata: StrataCtx,
    table: ResourceTable,
}

impl WasiView for OnStrata {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl StrataView for OnStrata {
    fn strata(&mut self) -> StrataCtxView<'_> {
        StrataCtxView {
            ctx: &mut self.strata,
            table: &mut self.table,
        }
    }
}

/// Store data for a guest on wasmtime-wasi's own host filesystem.
pub struct OnHost {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for OnHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// What a guest run produced.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// A guest's captured stdout and stderr.
struct Output {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Output {
    fn new() -> Output {
        Output {
            stdout: MemoryOutputPipe::new(1 << 20),
            stderr: MemoryOutputPipe::new(1 << 20),
        }
    }

    /// A WASI context with `args` whose stdio lands here.
    fn wasi(&self, args: &[&str]) -> WasiCtxBuilder {
        let mut b = WasiCtxBuilder::new();
        b.args(args)
            .stdout(self.stdout.clone())
            .stderr(self.stderr.clone());
        b
    }

    fn finish(self, result: wasmtime::Result<Result<(), ()>>) -> Run {
        let text = |p: MemoryOutputPipe| String::from_utf8_lossy(&p.contents()).into_owned();
        Run {
            ok: matches!(result, Ok(Ok(()))),
            stdout: text(self.stdout),
            stderr: text(self.stderr) + &result.err().map(|e| format!("{e:?}")).unwrap_or_default(),
        }
    }
}

/// Instantiates a command component and runs `wasi:cli/run`.
async fn run_command<T: WasiView + 'static>(
    mut store: Store<T>,
    linker: &Linker<T>,
    component: &Component,
) -> wasmtime::Result<Result<(), ()>> {
    let command =
        wasmtime_wasi::p2::bindings::Command::instantiate_async(&mut store, component, linker)
            .await?;
    command.wasi_cli_run().call_run(&mut store).await
}

/// Runs a component with `fork` preopened at `/`.
pub async fn run_on_strata(
    component: &Component,
    fork: Fork,
    perms: FsPerms,
    args: &[&str],
) -> Run {
    let output = Output::new();
    let data = OnStrata {
        wasi: output.wasi(args).build(),
        strata: StrataCtx::builder()
            .preopen(fork, "/", perms)
            .build()
            .await
            .expect("preopen"),
        table: ResourceTable::new(),
    };
    let mut linker = Linker::new(engine());
    strata::wasi::add_to_linker_async(&mut linker).expect("link");
    let result = run_command(Store::new(engine(), data), &linker, component).await;
    output.finish(result)
}

/// Runs a component with the host directory `dir` preopened at `/`, through
/// wasmtime-wasi's own filesystem: the reference Strata is compared with.
pub async fn run_on_host(component: &Component, dir: &Path, args: &[&str]) -> Run {
    run_on_host_with(component, dir, FsPerms::ReadWrite, args).await
}

/// [`run_on_host`] with the preopen's permissions.
pub async fn run_on_host_with(
    component: &Component,
    dir: &Path,
    perms: FsPerms,
    args: &[&str],
) -> Run {
    let output = Output::new();
    let mut builder = output.wasi(args);
    builder.preopened_dir(dir, "/", perms).expect("preopen");
    let data = OnHost {
        wasi: builder.build(),
        table: ResourceTable::new(),
    };
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("link");
    let result = run_command(Store::new(engine(), data), &linker, component).await;
    output.finish(result)
}

/// Runs `_start` of a p1 module; exit code 0 (or returning) is success.
async fn run_module<T: Send + 'static>(
    mut store: Store<T>,
    linker: &wasmtime::Linker<T>,
    module: &wasmtime::Module,
) -> wasmtime::Result<Result<(), ()>> {
    let instance = linker.instantiate_async(&mut store, module).await?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    match start.call_async(&mut store, ()).await {
        Ok(()) => Ok(Ok(())),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) if exit.0 == 0 => Ok(Ok(())),
            Some(_) => Ok(Err(())),
            None => Err(e),
        },
    }
}

/// Compiles a core module.
pub fn module(path: &Path) -> wasmtime::Module {
    wasmtime::Module::from_file(engine(), path).expect("compile module")
}

/// Runs a wasip1 module natively on Strata with `fork` preopened at `/`.
pub async fn run_p1_on_strata(
    module: &wasmtime::Module,
    fork: Fork,
    perms: FsPerms,
    args: &[&str],
) -> Run {
    let output = Output::new();
    let strata = StrataCtx::builder()
        .preopen(fork, "/", perms)
        .build()
        .await
        .expect("preopen");
    let p1 = strata::wasi::p1::P1Ctx::new(output.wasi(args).build(), strata);
    let store = Store::new(engine(), p1);
    let mut linker = wasmtime::Linker::new(engine());
    strata::wasi::p1::add_to_linker_async(&mut linker, |p1: &mut strata::wasi::p1::P1Ctx| p1)
        .expect("link");
    let result = run_module(store, &linker, module).await;
    output.finish(result)
}

/// Runs a wasip1 module on wasmtime-wasi's own p1 over the host directory `dir`.
pub async fn run_p1_on_host(module: &wasmtime::Module, dir: &Path, args: &[&str]) -> Run {
    run_p1_on_host_with(module, dir, FsPerms::ReadWrite, args).await
}

/// [`run_p1_on_host`] with the preopen's permissions.
pub async fn run_p1_on_host_with(
    module: &wasmtime::Module,
    dir: &Path,
    perms: FsPerms,
    args: &[&str],
) -> Run {
    let output = Output::new();
    let mut builder = output.wasi(args);
    builder.preopened_dir(dir, "/", perms).expect("preopen");
    let store = Store::new(engine(), builder.build_p1());
    let mut linker = wasmtime::Linker::new(engine());
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |t| t).expect("link");
    let result = run_module(store, &linker, module).await;
    output.finish(result)
}

/// A guest built against guests/p2/wit (a reactor core module exporting
/// `wasi:cli/run`), made into a component: the world's type is embedded,
/// then the preview1 reactor adapter wraps libc's own imports.
pub fn p2_component(path: &Path) -> Component {
    let bytes = with_world(path, "guests/p2/wit", "p2fs");
    Component::new(engine(), &bytes).expect("compile component")
}

/// A reactor core module that calls WASI interfaces directly, as a
/// component: `world` (from the WIT under `wit`) embedded, the preview1
/// reactor adapter serving libc's own imports.
fn with_world(path: &Path, wit: &str, world: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(root.join(wit)).expect("guest WIT");
    let world = resolve
        .select_world(&[package], Some(world))
        .expect("world");
    let mut module = std::fs::read(path).expect("read guest");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embed the world");
    encode(
        &module,
        wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    )
}

/// The path of a p2 or p3 guest's core module.
pub fn p2_guest(name: &str) -> Option<PathBuf> {
    guest(&format!("{name}.core"))
}

/// The engine for WASI 0.3 components: the async component model on.
pub fn engine_p3() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model_async(true);
        Engine::new(&config).expect("engine")
    })
}

/// A guest built against guests/p3/wit (a reactor core module exporting
/// `wasi:cli/run@0.3.0`), made into a component as [`p2_component`] does.
pub fn p3_component(path: &Path) -> Component {
    Component::new(engine_p3(), p3_component_bytes(path)).expect("compile component")
}

/// The component encoding of [`p3_component`].
pub fn p3_component_bytes(path: &Path) -> Vec<u8> {
    with_world(path, "guests/p3/wit", "p3fs")
}

/// Instantiates a WASI 0.3 command and runs `wasi:cli/run@0.3.0` inside
/// `run_concurrent`.
async fn run_command_p3<T: WasiView + 'static>(
    mut store: Store<T>,
    linker: &Linker<T>,
    component: &Component,
) -> wasmtime::Result<Result<(), ()>> {
    let command =
        wasmtime_wasi::p3::bindings::Command::instantiate_async(&mut store, component, linker)
            .await?;
    store
        .run_concurrent(async move |store| command.wasi_cli_run().call_run(store).await)
        .await?
}

/// Runs a WASI 0.3 component with `fork` preopened at `/`: p3 and p2 (for
/// libc's stdio, through the adapter) both linked, the filesystem Strata's.
pub async fn run_p3_on_strata(
    component: &Component,
    fork: Fork,
    perms: FsPerms,
    args: &[&str],
) -> Run {
    let output = Output::new();
    let data = OnStrata {
        wasi: output.wasi(args).build(),
        strata: StrataCtx::builder()
            .preopen(fork, "/", perms)
            .build()
            .await
            .expect("preopen"),
        table: ResourceTable::new(),
    };
    let mut linker = Linker::new(engine_p3());
    strata::wasi::add_to_linker_async(&mut linker).expect("link p2");
    strata::wasi::p3::add_to_linker(&mut linker).expect("link p3");
    let result = run_command_p3(Store::new(engine_p3(), data), &linker, component).await;
    output.finish(result)
}

/// Runs a WASI 0.3 component on wasmtime-wasi's own p3 (and p2) over the
/// host directory `dir`: the reference.
pub async fn run_p3_on_host(component: &Component, dir: &Path, args: &[&str]) -> Run {
    run_p3_on_host_with(component, dir, FsPerms::ReadWrite, args).await
}

/// [`run_p3_on_host`] with the preopen's permissions.
pub async fn run_p3_on_host_with(
    component: &Component,
    dir: &Path,
    perms: FsPerms,
    args: &[&str],
) -> Run {
    let output = Output::new();
    let mut builder = output.wasi(args);
    builder.preopened_dir(dir, "/", perms).expect("preopen");
    let data = OnHost {
        wasi: builder.build(),
        table: ResourceTable::new(),
    };
    let mut linker = Linker::new(engine_p3());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("link p2");
    wasmtime_wasi::p3::add_to_linker(&mut linker).expect("link p3");
    let result = run_command_p3(Store::new(engine_p3(), data), &linker, component).await;
    output.finish(result)
}
