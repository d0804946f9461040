//! File operations as real programs make them, one kind at a time, in
//! directories of 10 to 100 000 entries: Strata against wasmtime-wasi's own
//! host filesystem on tmpfs (`/dev/shm`), in its default setting and inline
//! (`allow_blocking_current_thread`), in the same run. Strata runs twice:
//! guest and actor as tasks on a 2-worker runtime (`strata`, an embedder
//! running many guests) and on a current-thread runtime (`strata 1-thread`,
//! what `strata run` uses for its one guest).
//!
//! Two guests do the same work: a Rust `std::fs` program built with
//! Debian's rustc (`guests/rust/mutations_std.rs`) and a C program on Zig's
//! wasi-libc (`guests/c/mutations.c`), both wasip1 modules. One guest run
//! performs K operations of one kind and times them itself with the
//! monotonic clock (instantiation, preparation and clean-up are not in the
//! figure); that time goes to criterion through `iter_custom`, K being the
//! iterations criterion asks for. So a figure is the time of one operation
//! as the program sees it.
//!
//! - `mutations/<op>/<N>/<guest>/<system>`: one operation in a directory of
//!   N files of 4 KiB. Each size has its own Strata filesystem (a fork of a
//!   fresh `Vfs` with default limits) and its own host directory, filled by
//!   the guest's `prepare` when a benchmark first needs it; every
//!   operation leaves the directory as it found it (a created file is
//!   removed again, outside the timed part), so each runs at N entries.
//!   For `readdir` an iteration is one full listing (criterion's throughput
//!   is entries per second).
//! - `mutations/unpack/10000/…`, `mutations/remove/10000/…`: write a tree
//!   of 10 000 files of 1–7 KiB in 111 nested directories, as extracting a
//!   source archive does; delete it recursively. An iteration is one tree.
//! - `mutations/timer/…`: what the guest's own timing costs. `create`,
//!   `append`, `mkdir`, `rmdir` and `unlink` time each operation on its
//!   own (the untimed part between them puts the directory back), so their
//!   figures include one timer each; the others time their whole loop.
//!
//! wasmtime-wasi's `fd_readdir` reads the whole directory and stats every
//! entry on each call, and a program calls it once per buffer-full (Rust's
//! std passes 128 bytes, ~4 entries; wasi-libc 4 KiB), so listing is
//! quadratic there; the listings that would take more than a few seconds
//! each are not run (see [`skipped`]).
//!
//! Run: `cargo bench --bench mutations` (builds the guests first).
//! `STRATA_BENCH_SIZES=10,1000` picks the directory sizes; criterion's
//! filter picks the rest, e.g. `-- 'mutations/(create|unlink)/.*/c/'`.

mod common;

use std::cell::OnceCell;
use std::path::PathBuf;
use std::time::Duration;

use common::{guests, p1_on_host, p1_on_strata, runtime, timed, tmpfs_dir, wasi_args};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use strata::actor::{Fork, VfsBuilder};
use strata::fs::Limits;
use tokio::runtime::Runtime;
use wasmtime::{Config, Engine, Module};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// The operations timed in a directory of N files, as the guests name them.
const OPS: [&str; 10] = [
    "create",
    "overwrite",
    "append",
    "rename",
    "mkdir",
    "rmdir",
    "unlink",
    "read",
    "stat",
    "readdir",
];

/// Files in the tree the tree workloads unpack and remove.
const TREE_FILES: usize = 10_000;

/// Where the guest works, as it sees it.
const DIR: &str = "/d";

#[derive(Clone, Copy, PartialEq, Eq)]
enum System {
    /// Guest and actor tasks on the 2-worker runtime, as an embedder runs
    /// many guests.
    Strata,
    /// Guest and actor on a current-thread runtime, as `strata run` runs
    /// its one guest.
    StrataOneThread,
    /// wasmtime-wasi's host filesystem, a `spawn_blocking` hop per call.
    Default,
    /// wasmtime-wasi's host filesystem, `allow_blocking_current_thread`.
    Inline,
}

const SYSTEMS: [System; 4] = [
    System::Strata,
    System::StrataOneThread,
    System::Default,
    System::Inline,
];

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Strata => "strata",
            System::StrataOneThread => "strata 1-thread",
            System::Default => "wasmtime-wasi default",
            System::Inline => "wasmtime-wasi inline",
        }
    }
}

struct Guest {
    name: &'static str,
    module: Module,
}

/// One directory of N files on each filesystem, made on first use.
struct World {
    n: usize,
    strata: OnceCell<Fork>,
    /// The same on the current-thread runtime (its actor runs there).
    strata_one_thread: OnceCell<Fork>,
    /// Shared by both of wasmtime-wasi's settings.
    host: OnceCell<tempfile::TempDir>,
}

struct Bench {
    rt: Runtime,
    /// What `strata run` uses.
    one_thread: Runtime,
    engine: Engine,
    guests: Vec<Guest>,
}

impl Bench {
    fn new() -> Bench {
        let dir = guests();
        let engine = Engine::new(&Config::new()).unwrap();
        let guests = [("rust", "mutations_std.wasm"), ("c", "mutations.wasm")]
            .into_iter()
            .map(|(name, file)| Guest {
                name,
                module: Module::from_file(&engine, dir.join(file)).unwrap(),
            })
            .collect();
        Bench {
            rt: runtime(),
            one_thread: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            engine,
            guests,
        }
    }

    /// Runs `module` with `args` on `system` and returns the time the guest
    /// reported for its timed part.
    fn run(&self, module: &Module, system: System, world: &World, args: &[String]) -> Duration {
        let stdout = MemoryOutputPipe::new(1 << 16);
        let mut wasi = wasi_args(args);
        wasi.stdout(stdout.clone()).inherit_stderr();
        let (engine, module) = (self.engine.clone(), module.clone());
        match system {
            System::Strata | System::StrataOneThread => {
                let fork = self.strata(system, world);
                timed(self.runtime(system), async move {
                    p1_on_strata(&engine, &module, fork, "/", wasi).await
                });
            }
            System::Default | System::Inline => {
                let host = self.host(world);
                let blocking = system == System::Inline;
                timed(&self.rt, async move {
                    p1_on_host(&engine, &module, &host, "/", wasi, blocking).await
                });
            }
        }
        let out = String::from_utf8(stdout.contents().to_vec()).unwrap();
        let ns = out
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("ns "))
            .and_then(|ns| ns.parse().ok())
            .unwrap_or_else(|| panic!("no time in the guest's output: {out:?}"));
        Duration::from_nanos(ns)
    }

    /// Makes `world`'s directory on `system` if it is not there yet —
    /// outside `iter_custom`, where criterion's wall clock (which sizes the
    /// samples) would count it.
    fn prepare(&self, system: System, world: &World) {
        match system {
            System::Strata | System::StrataOneThread => drop(self.strata(system, world)),
            System::Default | System::Inline => drop(self.host(world)),
        }
    }

    /// The guest's `prepare`: `DIR` with N files (none for the trees), on
    /// `system`.
    fn fill(&self, system: System, world: &World) {
        let args = args(&["mutations", "prepare", DIR, &world.n.to_string(), "0"]);
        self.run(&self.guests[1].module, system, world, &args);
    }

    fn runtime(&self, system: System) -> &Runtime {
        match system {
            System::StrataOneThread => &self.one_thread,
            _ => &self.rt,
        }
    }

    /// `world`'s Strata filesystem for `system`, its actor spawned on the
    /// runtime the guests run on.
    fn strata(&self, system: System, world: &World) -> Fork {
        let cell = match system {
            System::StrataOneThread => &world.strata_one_thread,
            _ => &world.strata,
        };
        if let Some(fork) = cell.get() {
            return fork.clone();
        }
        let rt = self.runtime(system);
        let vfs = rt.block_on(async { VfsBuilder::new().limits(Limits::default()).spawn() });
        let fork = rt.block_on(vfs.root().fork()).unwrap();
        cell.set(fork.clone()).ok().unwrap();
        self.fill(system, world);
        fork
    }

    fn host(&self, world: &World) -> PathBuf {
        if let Some(dir) = world.host.get() {
            return dir.path().to_owned();
        }
        world.host.set(tmpfs_dir()).ok().unwrap();
        self.fill(System::Inline, world);
        world.host.get().unwrap().path().to_owned()
    }
}

/// Why a case is not run, if it is not: wasmtime-wasi's quadratic listings
/// whose single run takes seconds to minutes, so that the eleven criterion
/// makes at least would take minutes more. The times are single listings,
/// measured while writing this bench; `STRATA_BENCH_SLOW=1` runs them all.
fn skipped(op: &str, n: usize, guest: &str, system: System) -> Option<&'static str> {
    if op != "readdir" || std::env::var("STRATA_BENCH_SLOW").is_ok_and(|v| v == "1") {
        return None;
    }
    match (guest, system, n) {
        ("rust", System::Default, 1_000..) => Some("one listing of 1 000 took 4.4 s"),
        ("rust", System::Inline, 10_000..) => Some("one listing of 10 000 took 86 s"),
        ("c", System::Default, 10_000..) => Some("one listing of 10 000 took 27 s"),
        ("c", System::Inline, 100_000..) => Some("one listing of 10 000 took 2.8 s"),
        _ => None,
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn sizes() -> Vec<usize> {
    match std::env::var("STRATA_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("STRATA_BENCH_SIZES: a list of numbers")
            })
            .collect(),
        Err(_) => vec![10, 1_000, 10_000, 100_000],
    }
}

/// One operation at every size, then the next: the sizes of one operation
/// are measured minutes apart at most, so a change in the machine's load
/// (it is shared) moves them together, and the cost at 100 000 entries
/// against 10 means what it says. All sizes' directories stay alive to the
/// end (about 1 GiB in all).
fn bench_ops(c: &mut Criterion) {
    let bench = Bench::new();
    let worlds: Vec<World> = sizes()
        .into_iter()
        .map(|n| World {
            n,
            strata: OnceCell::new(),
            strata_one_thread: OnceCell::new(),
            host: OnceCell::new(),
        })
        .collect();
    for op in OPS {
        for world in &worlds {
            let n = world.n;
            let mut group = c.benchmark_group(format!("mutations/{op}/{n}"));
            if op == "readdir" {
                // An iteration is a whole listing: at least one per sample.
                group.throughput(Throughput::Elements(n as u64));
                group.sampling_mode(SamplingMode::Flat);
            }
            for guest in &bench.guests {
                for system in SYSTEMS {
                    let id = format!("{}/{}", guest.name, system.name());
                    if let Some(why) = skipped(op, n, guest.name, system) {
                        println!("mutations/{op}/{n}/{id}: not run ({why})");
                        continue;
                    }
                    group.bench_function(&id, |b| {
                        bench.prepare(system, world);
                        b.iter_custom(|iters| {
                            let k = iters.to_string();
                            let a = args(&["mutations", op, DIR, &n.to_string(), &k]);
                            bench.run(&guest.module, system, world, &a)
                        })
                    });
                }
            }
            group.finish();
        }
    }
}

/// The tree workloads, and the guests' timer alone (`mutations/timer/…`:
/// two reads of the monotonic clock, what timing one operation adds to it).
fn bench_trees(c: &mut Criterion) {
    let bench = Bench::new();
    for op in ["unpack", "remove", "timer"] {
        let mut group = c.benchmark_group(match op {
            "timer" => "mutations/timer".to_string(),
            _ => format!("mutations/{op}/{TREE_FILES}"),
        });
        if op != "timer" {
            group.throughput(Throughput::Elements(TREE_FILES as u64));
            group.sampling_mode(SamplingMode::Flat);
        }
        for guest in &bench.guests {
            for system in SYSTEMS {
                // An empty `DIR` on each filesystem; every run leaves it so.
                let world = World {
                    n: 0,
                    strata: OnceCell::new(),
                    strata_one_thread: OnceCell::new(),
                    host: OnceCell::new(),
                };
                group.bench_function(format!("{}/{}", guest.name, system.name()), |b| {
                    bench.prepare(system, &world);
                    b.iter_custom(|iters| {
                        let (files, k) = (TREE_FILES.to_string(), iters.to_string());
                        let a = args(&["mutations", op, DIR, &files, &k]);
                        bench.run(&guest.module, system, &world, &a)
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_ops, bench_trees
}
criterion_main!(benches);
