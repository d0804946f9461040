//! `wasi_snapshot_preview1`, served natively by Strata, for core-module
//! guests.
//!
//! Most WASI programs in the wild are wasip1 core modules. Wrapping them in
//! the preview1 component adapter breaks guests linked against an older
//! wasi-libc once their heap grows, and adds a layer and a copy per call —
//! so Strata answers p1 itself, over the same
//! [`Descriptor`](super::Descriptor) the p2 bindings use: the filesystem
//! semantics live once, in the descriptor and below; this module only
//! speaks p1's ABI.
//!
//! # Layout
//!
//! - `table.rs`: the fd table — one number space for stdio, preopens, files
//!   and directories, each entry holding what p1 adds to a descriptor (a
//!   cursor, the append flag, the preopen's name, directory cookies) — and
//!   the rights p1 reports.
//! - `io.rs`: moving bytes: read, write (vectored, one copy), seek, tell.
//! - `fdops.rs`: calls about an fd itself: close, renumber, prestat,
//!   fdstat and flags, filestat, size, times, sync, advise.
//! - `paths.rs`: calls on a path under a directory fd.
//! - `readdir.rs`: `fd_readdir` and its cookies.
//! - `poll.rs`: `poll_oneoff` over clocks, stdio and files.
//! - `host.rs`: args, environment, clocks, random, exit, sockets — handed to
//!   wasmtime-wasi's p2 host implementations through its `WasiCtx`.
//! - `guest.rs`: reading and writing guest memory within what one call may
//!   copy.
//! - `errno.rs`: the one map from Strata's errors to p1's `errno`.
//! - `dispatch.rs`: the `WasiSnapshotPreview1` trait, each method one line
//!   into the files above.
//!
//! # How preview1 differs from preview2, and what that costs here
//!
//! - **One fd number space, with positions.** p2 hands out resources and
//!   streams that each carry their own cursor; p1 has small integers shared
//!   by stdio and files, and one cursor per fd that reads and writes move.
//!   So p1 keeps its own table: the cursor and append flag are plain fields
//!   next to the descriptor, and a read goes straight from the file's
//!   chunks into the guest's buffers — one copy, no stream in between.
//! - **Rights.** p1 descriptors carry rights; p2 has none. As in
//!   wasmtime-wasi, only `FD_READ` and `FD_WRITE` asked of `path_open` mean
//!   anything (they pick the open mode); what `fd_fdstat_get` reports is
//!   worked out from the mode, and `fd_fdstat_set_rights` is `ENOTSUP`.
//! - **Directory cookies.** p2 streams a listing; p1 asks for "entries from
//!   cookie N" again and again into a fixed buffer. Cookies here resume
//!   after a *name*, not a count, so a listing stays right while the guest
//!   deletes what it lists (see `readdir.rs`).
//! - **Blocking.** p1 calls block the guest until done, but never the
//!   executor: every wait (the actor, stdin, a clock) is a future.
//! - **Sizes from the guest.** Buffers and array lengths come from guest
//!   memory unchecked; each is bounded by `Limits::max_io` and by the
//!   store's per-call allowance before the host allocates for it (a
//!   directory listing, no longer than the directory, is charged once
//!   built), and what a guest makes the host remember across calls — its
//!   directory cookies — by a budget per guest (`readdir.rs`).

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p1::wasi_snapshot_preview1;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::ctx::StrataCtx;
use table::FdTable;

mod dispatch;
mod errno;
mod fdops;
mod guest;
mod host;
mod io;
mod paths;
mod poll;
mod readdir;
mod table;

/// A guest's state for running a wasip1 module on Strata: wasmtime-wasi's
/// context (args, environment, stdio, clocks, random), the fd table with
/// Strata's preopens in it, and what the current call may still copy. Keep
/// one in the store's data and add the functions with
/// [`add_to_linker_async`].
pub struct P1Ctx {
    wasi: WasiCtx,
    /// Resources wasmtime-wasi's host calls need a table for; our own
    /// entries live in `fds`.
    table: ResourceTable,
    fds: FdTable,
    /// Bytes the current call may still copy between host and guest
    /// (wasmtime's hostcall fuel, set before every call).
    allowance: usize,
}

impl P1Ctx {
    /// A p1 context from wasmtime-wasi's context (its own preopens unused:
    /// files come from Strata) and Strata's. Stdio takes fds 0–2 and the
    /// preopens follow, in the order they were configured.
    pub fn new(wasi: WasiCtx, strata: StrataCtx) -> Self {
        let mut ctx = P1Ctx {
            wasi,
            table: ResourceTable::new(),
            fds: FdTable::default(),
            allowance: 0,
        };
        let stdio = table::Stdio::open(&mut ctx);
        ctx.fds = FdTable::new(stdio, &strata.preopens);
        ctx
    }
}

impl WasiView for P1Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Adds every `wasi_snapshot_preview1` function to a core-module linker,
/// served by the [`P1Ctx`] that `get` finds in the store's data. Calls are
/// async: instantiate and call with `instantiate_async` / `call_async`.
pub fn add_to_linker_async<T: Send + 'static>(
    linker: &mut wasmtime::Linker<T>,
    get: impl Fn(&mut T) -> &mut P1Ctx + Copy + Send + Sync + 'static,
) -> wasmtime::Result<()> {
    wasi_snapshot_preview1::add_to_linker(linker, get)
}
