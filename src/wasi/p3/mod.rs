//! `wasi:filesystem@0.3.0` on the same filesystem as p2 and p1: the
//! descriptor methods over Strata's [`Descriptor`](super::Descriptor), and
//! the component model's own `stream`s and `future`s for reads, writes and
//! listings (`streams`).
//!
//! An embedder links WASI 0.3 with one call, [`add_to_linker`]: Strata's
//! filesystem, and wasmtime-wasi's cli, clocks, random and sockets. The
//! store needs the async component model
//! (`Config::wasm_component_model_async`), and guests run inside
//! `Store::run_concurrent`. Components built by today's toolchains for
//! WASI 0.3 still import p2 interfaces too (`wasi:io`, `wasi:cli`, for
//! libc's stdio): link both, with [`super::add_to_linker_async`] first.

mod bindings;
mod host;
mod streams;

use wasmtime::component::Linker;
use wasmtime_wasi::p3::{cli, clocks, random, sockets};

use super::StrataView;
use bindings::preopens;
pub(crate) use bindings::types;
use host::StrataP3;

/// Adds every WASI 0.3 interface to `linker`: `wasi:filesystem` from
/// Strata, the rest from wasmtime-wasi.
pub fn add_to_linker<T: StrataView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, StrataP3>(linker, T::strata)?;
    preopens::add_to_linker::<T, StrataP3>(linker, T::strata)?;
    cli::add_to_linker(linker)?;
    clocks::add_to_linker(linker)?;
    random::add_to_linker(linker)?;
    sockets::add_to_linker(linker)?;
    Ok(())
}
