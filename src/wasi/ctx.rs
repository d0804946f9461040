//! What a guest's store holds for Strata: its preopened directories, and
//! the view trait through which the bindings reach them — the same shape as
//! wasmtime-wasi's `WasiCtx` / `WasiView`, so an embedder feels at home.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiView};

use crate::actor::{self, OpenFile, VfsHandle};
use crate::fs::{Errno, ForkId, Kind, OpenFlags};

/// One filesystem as a guest sees it: which actor, which fork.
#[derive(Clone, Debug)]
pub struct Mount {
    /// The actor that owns the filesystem.
    pub vfs: VfsHandle,
    /// The fork this guest works in.
    pub fork: ForkId,
}

impl Mount {
    /// Whether two mounts are the same filesystem (renames and links
    /// between different ones fail with `cross-device`).
    pub fn same_device(&self, other: &Mount) -> bool {
        self.fork == other.fork && self.vfs.same_actor(&other.vfs)
    }
}

/// A directory handed to the guest at start.
#[derive(Debug)]
pub(crate) struct Preopen {
    pub mount: Mount,
    pub dir: Arc<OpenFile>,
    /// Where the guest sees it.
    pub guest_path: String,
    pub perms: FsPerms,
}

/// A preopen as configured, before its directory is opened.
#[derive(Debug)]
struct PreopenSpec {
    mount: Mount,
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
/// use strata::fs::{ForkId, MemBase};
/// use strata::wasi::{Mount, StrataCtx};
/// use wasmtime_wasi::FsPerms;
///
/// let vfs = VfsBuilder::new().image(MemBase::empty()).spawn();
/// let fork = vfs.fork(ForkId::ROOT).await.unwrap();
/// let ctx = StrataCtx::builder()
///     .preopen(Mount { vfs, fork }, "/", FsPerms::ReadWrite)
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
    pub fn preopen(self, mount: Mount, guest_path: &str, perms: FsPerms) -> Self {
        self.preopen_dir(mount, "", guest_path, perms)
    }

    /// Shows the directory `dir` of the fork (a path from its root) to the
    /// guest at `guest_path`; the guest cannot reach above it.
    pub fn preopen_dir(
        mut self,
        mount: Mount,
        dir: &str,
        guest_path: &str,
        perms: FsPerms,
    ) -> Self {
        self.preopens.push(PreopenSpec {
            mount,
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
            let (vfs, fork) = (&spec.mount.vfs, spec.mount.fork);
            let root = vfs.open_root(fork).await?;
            let dir = if spec.dir.is_empty() {
                root
            } else {
                vfs.open_at(
                    fork,
                    root.ino(),
                    &spec.dir,
                    true,
                    OpenFlags::default(),
                    false,
                )
                .await?
            };
            if dir.kind() != Kind::Dir {
                return Err(actor::Error::Errno(Errno::NotDirectory));
            }
            preopens.push(Preopen {
                mount: spec.mount,
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
