//! Concurrent WebAssembly guests, each on its own fork of one base image.
//!
//! N copies of a real C program (`guests/c/worker.c`, a wasip1 module built
//! by `scripts/build-guests`) run at once on one tokio runtime. Each gets
//! its own O(1) fork of a shared in-memory image and does real file work:
//! reads the input, writes a report through a scratch file it renames into
//! place, edits a config file. Afterwards the example prints each guest's
//! output, the diff of one guest's fork, commits that fork into the base,
//! and shows that the other guests never saw it — and cannot commit their
//! own conflicting edit over it.
//!
//! Run: `cargo run --example concurrent_guests -- --guests 32`

use std::path::Path;
use std::time::Instant;

use strata::actor::{Error, Fork, VfsBuilder, VfsHandle};
use strata::fs::{ChangeKind, MemBase};
use strata::wasi::StrataCtx;
use strata::wasi::p1::P1Ctx;
use wasmtime::{Config, Engine, Linker, Module, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

fn base_image() -> MemBase {
    let text = "the quick brown fox jumps over the lazy dog\n".repeat(500);
    MemBase::builder()
        .file("etc/app.conf", &b"mode=count\n"[..])
        .file("data/input.txt", text.into_bytes())
        .dir("out")
        .dir("tmp")
        .build()
}

/// Builds the guest programs (installing the toolchain if needed).
fn build_guests() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(root.join("scripts/build-guests"))
        .status()
        .map_err(|e| format!("scripts/build-guests: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("scripts/build-guests: {status}"))
    }
}

/// Runs one worker on its own fork; returns the fork and what it printed.
async fn run_guest(
    engine: &Engine,
    module: &Module,
    vfs: VfsHandle,
    id: usize,
) -> Result<(Fork, String), String> {
    let fork = vfs.root().fork().await.map_err(|e| e.to_string())?;
    let stdout = MemoryOutputPipe::new(64 * 1024);
    let wasi = WasiCtxBuilder::new()
        .args(&["worker", &id.to_string()])
        .stdout(stdout.clone())
        .build();
    let strata = StrataCtx::builder()
        .preopen(fork.clone(), "/", FsPerms::ReadWrite)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let mut store = Store::new(engine, P1Ctx::new(wasi, strata));
    let mut linker = Linker::new(engine);
    strata::wasi::p1::add_to_linker_async(&mut linker, |p1: &mut P1Ctx| p1)
        .map_err(|e| e.to_string())?;
    let instance = linker
        .instantiate_async(&mut store, module)
        .await
        .map_err(|e| e.to_string())?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| e.to_string())?;
    match start.call_async(&mut store, ()).await {
        Ok(()) => {}
        Err(e) if e.downcast_ref::<I32Exit>().is_some_and(|x| x.0 == 0) => {}
        Err(e) => return Err(format!("guest {id}: {e}")),
    }
    Ok((
        fork,
        String::from_utf8_lossy(&stdout.contents())
            .trim_end()
            .to_owned(),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guests: usize = match std::env::args().skip_while(|a| a != "--guests").nth(1) {
        Some(n) => n.parse()?,
        None => 32,
    };
    build_guests()?;
    let engine = Engine::new(&Config::new())?;
    let module = Module::from_file(
        &engine,
        Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/build/worker.wasm"),
    )?;
    let vfs = VfsBuilder::new().image(base_image()).spawn();

    let start = Instant::now();
    let tasks: Vec<_> = (0..guests)
        .map(|id| {
            let (engine, module, vfs) = (engine.clone(), module.clone(), vfs.clone());
            tokio::spawn(async move { run_guest(&engine, &module, vfs, id).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await??);
    }
    println!(
        "{guests} WebAssembly guests ran concurrently in {:.2?}, each on its own fork of one image:",
        start.elapsed()
    );
    for (id, (fork, out)) in results.iter().enumerate() {
        println!("  guest {id:>3} (fork {:>3}): {out}", fork.id().0);
    }

    let (first, _) = &results[0];
    println!("\ndiff of guest 0's fork:");
    for change in first.diff().await? {
        let kind = match change.kind {
            ChangeKind::Created => "created ",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted ",
        };
        println!("  {kind} {}", change.path);
    }

    first.commit().await?;
    println!("\ncommitted guest 0's fork into the base:");
    let report = String::from_utf8(vfs.root().read_file("out/report-0.txt").await?)?;
    println!(
        "  base /out/report-0.txt: {:?}",
        report.lines().next().unwrap_or_default()
    );
    println!(
        "  base /etc/app.conf: {:?}",
        String::from_utf8(vfs.root().read_file("etc/app.conf").await?)?
    );
    if let Some((other, _)) = results.get(1) {
        let seen = other.read_file("out/report-0.txt").await.is_ok();
        println!(
            "  guest 1, forked before the commit, sees /out/report-0.txt: {}",
            if seen { "yes" } else { "no" }
        );
        println!(
            "  guest 1 still has its own /etc/app.conf: {:?}",
            String::from_utf8(other.read_file("etc/app.conf").await?)?
        );
        match other.commit().await {
            Err(Error::Conflict(paths)) => {
                println!("  committing guest 1 as well: refused, conflict on {paths:?}")
            }
            other => println!("  committing guest 1 as well: {other:?}"),
        }
    }
    for (fork, _) in results.iter().skip(1) {
        fork.discard().await?;
    }
    vfs.shutdown().await;
    Ok(())
}
