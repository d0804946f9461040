//! WASI bindings on wasmtime, served by the actor: `wasi:filesystem@0.2`
//! here, `wasi:filesystem@0.3.0` in [`p3`], preview 1 in [`p1`] — three
//! versions over one [`Descriptor`] and one filesystem.
//!
//! Strata implements the filesystem interfaces itself (its own bindings,
//! generated from the WIT wasmtime-wasi ships) and takes everything else a
//! guest imports — cli, clocks, random, io, sockets — from wasmtime-wasi, in
//! the same resource table.
//!
//! Embedding takes a store type implementing [`StrataView`] (which extends
//! wasmtime-wasi's `WasiView`), a [`StrataCtx`] built with the preopens, and
//! one call to [`add_to_linker_async`] (and [`p3::add_to_linker`] for WASI
//! 0.3 components); core modules (wasip1) run natively through [`p1`].
//!
//! ```no_run
//! use strata::actor::VfsBuilder;
//! use strata::fs::MemBase;
//! use strata::wasi::{StrataCtx, StrataCtxView, StrataView};
//! use wasmtime::component::{Component, Linker, ResourceTable};
//! use wasmtime::{Engine, Store};
//! use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
//!
//! struct Guest { wasi: WasiCtx, strata: StrataCtx, table: ResourceTable }
//! impl WasiView for Guest {
//!     fn ctx(&mut self) -> WasiCtxView<'_> { WasiCtxView { ctx: &mut self.wasi, table: &mut self.table } }
//! }
//! impl StrataView for Guest {
//!     fn strata(&mut self) -> StrataCtxView<'_> { StrataCtxView { ctx: &mut self.strata, table: &mut self.table } }
//! }
//!
//! # async fn run(engine: Engine, component: Component) -> wasmtime::Result<()> {
//! let vfs = VfsBuilder::new().image(MemBase::builder().file("hello.txt", &b"hi"[..]).build()).spawn();
//! let fork = vfs.root().fork().await?;
//! let strata = StrataCtx::builder().preopen(fork, "/", FsPerms::ReadWrite).build().await?;
//! let mut linker = Linker::new(&engine);
//! strata::wasi::add_to_linker_async(&mut linker)?;
//! let guest = Guest { wasi: WasiCtx::builder().inherit_stdio().build(), strata, table: ResourceTable::new() };
//! let mut store = Store::new(&engine, guest);
//! let command = wasmtime_wasi::p2::bindings::Command::instantiate_async(&mut store, &component, &linker).await?;
//! let _ = command.wasi_cli_run().call_run(&mut store).await?;
//! # Ok(()) }
//! ```

#[allow(missing_docs)]
mod bindings;
mod ctx;
mod descriptor;
mod error;
mod linker;
pub mod p1;
pub mod p3;
mod readdir;
mod stream;

pub use bindings::types::ErrorCode;
pub use ctx::{StrataCtx, StrataCtxBuilder, StrataCtxView, StrataView};
pub use descriptor::Descriptor;
pub use error::{FsError, FsResult, error_code};
pub use linker::add_to_linker_async;
pub use readdir::DirectoryEntryStream;
