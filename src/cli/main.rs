//! `strata`: run a WebAssembly program on Strata's virtual filesystem.
//!
//! ```text
//! strata run [-v]... [--dir HOST[::GUEST]]... [--env K=V]... MODULE_OR_COMPONENT [ARGS]...
//! ```
//!
//! Conventions follow `wasmtime run`. Each `--dir` mounts a host directory
//! as the read-only *base* of its own in-memory overlay: the guest may write
//! anywhere, the host directory is never modified, and everything the guest
//! wrote is dropped at exit. Mounts are separate filesystems, so a rename
//! between them fails with `cross-device`. Core modules (wasip1) run on
//! Strata's native preview1; components run on `wasi:cli/run`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strata::actor::{HostDir, VfsBuilder};
use strata::wasi::p1::P1Ctx;
use strata::wasi::{StrataCtx, StrataCtxBuilder, StrataCtxView, StrataView};
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Config, Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Run WebAssembly guests on a virtual filesystem"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a wasip1 module or a WASI component.
    Run(Run),
}

#[derive(Parser)]
struct Run {
    /// Mount a host directory (read-only base of an in-memory overlay) at
    /// GUEST (default: the same path).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Set an environment variable for the guest.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    envs: Vec<String>,
    /// Most linear memory the guest may grow to, in MiB.
    #[arg(long, default_value_t = 1024)]
    max_memory_mib: usize,
    /// Log to stderr what the filesystem decides: requests refused (and
    /// why), base data fetched, commits. Twice: every request and every
    /// WASI call too. `RUST_LOG` (e.g. `strata=debug`) takes precedence.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// The program: a wasip1 module or a component (binary or text).
    program: PathBuf,
    /// Arguments for the program.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let Command::Run(run) = Cli::parse().command;
    if let Err(message) = log_to_stderr(run.verbose) {
        return fail(&message);
    }
    // One guest, one thread: the guest and the filesystem's actor take
    // turns on it, so a request and its answer are two task switches and no
    // thread wakes another. On a multi-threaded runtime tokio hands a chain
    // of wake-ups between two tasks on one worker only three times per turn
    // and then wakes a second worker to share them, so most of the guest's
    // requests would pay a thread wake-up (see BENCHMARKS.md).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let guest = runtime.spawn(async move { run.execute().await });
    match runtime.block_on(guest) {
        Ok(Ok(code)) => code,
        Ok(Err(message)) => fail(&message),
        Err(e) => fail(&format!("the guest task failed: {e}")),
    }
}

/// Prints the library's `tracing` events to stderr, as `RUST_LOG` or the
/// count of `-v` asks; nothing at all without either.
fn log_to_stderr(verbose: u8) -> Result<(), String> {
    use std::io::IsTerminal;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;

    let spec = match (std::env::var("RUST_LOG"), verbose) {
        (Ok(spec), _) => spec,
        (Err(_), 0) => return Ok(()),
        (Err(_), 1) => "strata=debug".to_owned(),
        (Err(_), _) => "strata=trace,wasmtime_wasi=trace".to_owned(),
    };
    let filter: Targets = spec.parse().map_err(|e| format!("RUST_LOG={spec}: {e}"))?;
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    tracing_subscriber::registry()
        .with(output.with_filter(filter))
        .try_init()
        .map_err(|e| format!("cannot log: {e}"))
}

/// The first line of an error: the CLI reports failures in one line.
fn first_line(e: &impl std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

fn fail(message: &str) -> ExitCode {
    eprintln!("strata: {message}");
    ExitCode::from(2)
}

/// What a program is, judging by its header.
enum Program {
    Module(Module),
    Component(Component),
}

/// A component's store data.
struct ComponentGuest {
    wasi: WasiCtx,
    strata: StrataCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for ComponentGuest {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl StrataView for ComponentGuest {
    fn strata(&mut self) -> StrataCtxView<'_> {
        StrataCtxView {
            ctx: &mut self.strata,
            table: &mut self.table,
        }
    }
}

/// Whether `component` exports WASI 0.3.0's `run` (preferred when it
/// exports 0.2's too, as `wasmtime run` does). A 0.3 release candidate
/// takes the 0.2 path and fails to link, naming what it imports.
fn exports_run_0_3(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .exports(engine)
        .any(|(name, _)| name == "wasi:cli/run@0.3.0")
}

/// A core module's store data: the p1 context holds everything.
struct ModuleGuest {
    p1: P1Ctx,
    limits: StoreLimits,
}

impl Run {
    fn load(&self, engine: &Engine) -> Result<Program, String> {
        let path = self.program.display();
        let bytes = std::fs::read(&self.program).map_err(|e| format!("{path}: {e}"))?;
        // Binary layer field: 0 for core modules, 1 for components.
        let component = bytes.starts_with(b"\0asm") && bytes.get(6) == Some(&1);
        let text = !bytes.starts_with(b"\0asm");
        if component {
            return Component::new(engine, &bytes)
                .map(Program::Component)
                .map_err(|e| format!("{path}: not a valid component: {}", first_line(&e)));
        }
        match Module::new(engine, &bytes) {
            Ok(module) => Ok(Program::Module(module)),
            Err(_) if text => Component::new(engine, &bytes)
                .map(Program::Component)
                .map_err(|_| format!("{path}: not a WebAssembly module or component")),
            Err(e) => Err(format!("{path}: not a valid module: {}", first_line(&e))),
        }
    }

    fn mounts(&self) -> Result<StrataCtxBuilder, String> {
        let mut builder = StrataCtx::builder();
        for dir in &self.dirs {
            let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
            let backend = HostDir::new(host).map_err(|e| format!("--dir {host}: {e}"))?;
            let vfs = VfsBuilder::new().backend(backend).spawn();
            builder = builder.preopen(vfs.root(), guest, FsPerms::ReadWrite);
        }
        Ok(builder)
    }

    /// The one-line error for a program that could not be instantiated.
    fn cannot_start(&self, e: &wasmtime::Error) -> String {
        format!("{}: {}", self.program.display(), first_line(e))
    }

    async fn execute(self) -> Result<ExitCode, String> {
        let mut config = Config::new();
        // WASI 0.3 components need the async component model.
        config.wasm_component_model_async(true);
        let engine = Engine::new(&config).map_err(|e| e.to_string())?;
        let program = self.load(&engine)?;
        let mut wasi = WasiCtxBuilder::new();
        let name = self
            .program
            .file_name()
            .map_or("program".into(), |n| n.to_string_lossy().into_owned());
        wasi.arg(&name).args(&self.args).inherit_stdio();
        for env in &self.envs {
            let (key, value) = env.split_once('=').unwrap_or((env, ""));
            wasi.env(key, value);
        }
        let strata = self
            .mounts()?
            .build()
            .await
            .map_err(|e| format!("mount: {e}"))?;
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.max_memory_mib.saturating_mul(1 << 20))
            .build();

        let wasi = wasi.build();
        let result = match program {
            Program::Component(component) => {
                let guest = ComponentGuest {
                    wasi,
                    strata,
                    table: ResourceTable::new(),
                    limits,
                };
                let mut store = Store::new(&engine, guest);
                store.limiter(|g| &mut g.limits);
                let mut linker = wasmtime::component::Linker::new(&engine);
                // Both versions: WASI 0.3 programs import 0.2's io and cli
                // too (libc's stdio), and may export both `run`s.
                strata::wasi::add_to_linker_async(&mut linker).map_err(|e| e.to_string())?;
                strata::wasi::p3::add_to_linker(&mut linker).map_err(|e| e.to_string())?;
                let status = if exports_run_0_3(&engine, &component) {
                    let command = wasmtime_wasi::p3::bindings::Command::instantiate_async(
                        &mut store, &component, &linker,
                    )
                    .await
                    .map_err(|e| self.cannot_start(&e))?;
                    store
                        .run_concurrent(async move |s| command.wasi_cli_run().call_run(s).await)
                        .await
                        .and_then(|run| run)
                } else {
                    let command = wasmtime_wasi::p2::bindings::Command::instantiate_async(
                        &mut store, &component, &linker,
                    )
                    .await
                    .map_err(|e| self.cannot_start(&e))?;
                    command.wasi_cli_run().call_run(&mut store).await
                };
                status.map(|r| if r.is_ok() { 0 } else { 1 })
            }
            Program::Module(module) => {
                let guest = ModuleGuest {
                    p1: P1Ctx::new(wasi, strata),
                    limits,
                };
                let mut store = Store::new(&engine, guest);
                store.limiter(|g| &mut g.limits);
                let mut linker = Linker::new(&engine);
                strata::wasi::p1::add_to_linker_async(&mut linker, |g: &mut ModuleGuest| &mut g.p1)
                    .map_err(|e| e.to_string())?;
                let instance = linker
                    .instantiate_async(&mut store, &module)
                    .await
                    .map_err(|e| self.cannot_start(&e))?;
                let start = instance
                    .get_typed_func::<(), ()>(&mut store, "_start")
                    .map_err(|_| format!("{}: no `_start` function", self.program.display()))?;
                start.call_async(&mut store, ()).await.map(|()| 0)
            }
        };
        match result {
            Ok(code) => Ok(ExitCode::from(code)),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => Ok(ExitCode::from(exit.0.clamp(0, 255) as u8)),
                None => {
                    eprintln!("strata: the guest trapped: {e:?}");
                    Ok(ExitCode::from(134))
                }
            },
        }
    }
}
