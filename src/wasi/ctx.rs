//! What a guest's store holds for Strata: its preopened directories, and
//! the view trait through which the bindings reach them — the same shape as
//! wasmtime-wasi's `WasiCtx` / `WasiView`, so an embedder feels at home.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiView};

use crate::actor::{self, Fork, OpenFile, OpenOptions};
use crate::fs::{Errno, Kind};

/// A directory handed to the guest at start.
#[derive(Debug)]
pub(crate) struct Preopen {
    pub dir: Arc<OpenFile>,
    /// Where the guest sees it.
    pub guest_path: String,
    pub perms: FsPerms,
}

/// A preopen as configured, before its directory is opened.
#[derive(Debug)]
struct PreopenSpec {
    fork: Fork,
    /// Path of the directory inside the fork (`""` for its root).
    dir: String,
    guest_path: String,
    perms: FsPerms,
}

/// Strata's per-guest state: the preopened directories.
#[derive(Debug, Default)]
pub struct StrataCtx {
    pub(crate) preopens: Vec<Preopen>,
}

impl StrataCtx {
    /// Starts an empty context.
    pub fn builder() -> StrataCtxBuilder {
        StrataCtxBuilder::default()
    }
}

/// Builds a [`StrataCtx`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use strata::actor::VfsBuilder;
/// use strata::fs::MemBase;
/// use strata::wasi::StrataCtx;
/// use wasmtime_wasi::FsPerms;
///
/// let vfs = VfsBuilder::new().image(MemBase::empty()).spawn();
/// let fork = vfs.root().fork().await.unwrap();
/// let ctx = StrataCtx::builder()
///     .preopen(fork, "/", FsPerms::ReadWrite)
///     .build()
///     .await
///     .unwrap();
/// # let _ = ctx; }
/// ```
#[derive(Debug, Default)]
pub struct StrataCtxBuilder {
    preopens: Vec<PreopenSpec>,
}

impl StrataCtxBuilder {
    /// Shows the fork's root directory to the guest at `guest_path`.
    pub fn preopen(self, fork: Fork, guest_path: &str, perms: FsPerms) -> Self {
        self.preopen_dir(fork, "", guest_path, perms)
    }

    /// Shows the directory `dir` of the fork (a path from its root) to the
    /// guest at `guest_path`; the guest cannot reach above it.
    pub fn preopen_dir(mut self, fork: Fork, dir: &str, guest_path: &str, perms: FsPerms) -> Self {
        self.preopens.push(PreopenSpec {
            fork,
            dir: dir.trim_matches('/').to_owned(),
            guest_path: guest_path.to_owned(),
            perms,
        });
        self
    }

    /// Opens the preopened directories (which takes the actor) and finishes
    /// the context. Fails if a directory does not exist or is not one.
    pub async fn build(self) -> Result<StrataCtx, actor::Error> {
        let mut preopens = Vec::new();
        for spec in self.preopens {
            let root = spec.fork.open_root().await?;
            let dir = if spec.dir.is_empty() {
                root
            } else {
                root.open_at(&spec.dir, OpenOptions::new()).await?
            };
            if dir.kind() != Kind::Dir {
                return Err(actor::Error::Errno(Errno::NotDirectory));
            }
            preopens.push(Preopen {
                dir: Arc::new(dir),
                guest_path: spec.guest_path,
                perms: spec.perms,
            });
        }
        Ok(StrataCtx { preopens })
    }
}

/// What the filesystem bindings need from a store's data: Strata's context
/// and the resource table — the same table [`WasiView`] exposes, so streams
/// created here are found by `wasi:io`.
pub struct StrataCtxView<'a> {
    /// The guest's Strata state.
    pub ctx: &'a mut StrataCtx,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

/// Implemented by a store's data type to run guests on Strata.
///
/// ```
/// use strata::wasi::{StrataCtx, StrataCtxView, StrataView};
/// use wasmtime::component::ResourceTable;
/// use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
///
/// struct Guest { wasi: WasiCtx, strata: StrataCtx, table: ResourceTable }
///
/// impl WasiView for Guest {
///     fn ctx(&mut self) -> WasiCtxView<'_> {
///         WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
///     }
/// }
/// impl StrataView for Guest {
///     fn strata(&mut self) -> StrataCtxView<'_> {
///         StrataCtxView { ctx: &mut self.strata, table: &mut self.table }
///     }
/// }
/// ```
pub trait StrataView: WasiView {
    /// Strata's context and the store's resource table.
    fn strata(&mut self) -> StrataCtxView<'_>;
}
