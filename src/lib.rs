//! Strata: a virtual filesystem for WebAssembly guests.
//!
//! Hosts that run many WASI guests in one process give each guest a
//! filesystem that is not the host's disk: an in-memory overlay over a base
//! image, forked per guest in O(1), that the host can diff, commit or throw
//! away afterwards.
//!
//! # Layout
//!
//! Data flows one way: guest → WASI bindings → handle → channel → actor →
//! core, and back. Each layer only knows the one below it.
//!
//! - [`fs`] — the pure filesystem core — inodes, copy-on-write chunked file
//!   data, path resolution and confinement, the base layer, fork / diff /
//!   commit, limits. No tokio, no wasmtime.
//! - [`actor`] — the task that owns the core, the cloneable [`actor::VfsHandle`]
//!   that talks to it over channels, and the backends the base is fetched
//!   from (in memory, a host directory, a latency-injecting wrapper).
//! - [`wasi`] — `wasi:filesystem@0.2` (with `wasi:io` streams and pollables)
//!   implemented on the handle for wasmtime components.
//!
//! See `ARCHITECTURE.md` for the design and its trade-offs.

#![warn(missing_docs)]

pub mod actor;
pub mod fs;
pub mod wasi;
