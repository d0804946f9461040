//! Real guest programs through wasmtime against Strata, compared with the
//! same programs on wasmtime-wasi's own host filesystem.

mod common;

use common::guest::{component_from_module, guest, run_on_host, run_on_strata};
use strata::actor::VfsBuilder;
use strata::fs::{ForkId, MemBase};
use strata::wasi::Mount;
use wasmtime_wasi::FsPerms;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_guest_as_component_matches_wasmtime_wasi() {
    let Some(path) = guest("fsops") else { return };
    let component = component_from_module(&path);

    let vfs = VfsBuilder::new().image(MemBase::empty()).spawn();
    let fork = vfs.fork(ForkId::ROOT).await.unwrap();
    let on_strata = run_on_strata(
        &component,
        Mount {
            vfs: vfs.clone(),
            fork,
        },
        FsPerms::ReadWrite,
        &["fsops", "/"],
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let on_host = run_on_host(&component, dir.path(), &["fsops", "/"]).await;

    assert!(on_host.ok, "reference run failed: {}", on_host.stderr);
    assert!(on_strata.ok, "strata run failed: {}", on_strata.stderr);
    println!("{}", on_strata.stdout);
    assert_eq!(on_strata.stdout, on_host.stdout);
    assert!(on_strata.stdout.ends_with("done\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_guest_as_p1_module_matches_wasmtime_wasi() {
    let Some(path) = guest("fsops") else { return };
    let module = common::guest::module(&path);

    let vfs = VfsBuilder::new().image(MemBase::empty()).spawn();
    let fork = vfs.fork(ForkId::ROOT).await.unwrap();
    let on_strata = common::guest::run_p1_on_strata(
        &module,
        Mount {
            vfs: vfs.clone(),
            fork,
        },
        FsPerms::ReadWrite,
        &["fsops", "/"],
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let on_host = common::guest::run_p1_on_host(&module, dir.path(), &["fsops", "/"]).await;

    assert!(on_host.ok, "reference run failed: {}", on_host.stderr);
    assert!(on_strata.ok, "strata run failed: {}", on_strata.stderr);
    assert_eq!(on_strata.stdout, on_host.stdout);
    assert!(on_strata.stdout.contains("rename a.txt b.txt: ok"));
    assert!(on_strata.stdout.ends_with("done\n"));
}
