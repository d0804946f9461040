//! Host bindings for `wasi:filesystem@0.2`, generated from the WIT that
//! wasmtime-wasi 48 ships (copied under `wit/`).
//!
//! wasmtime-wasi's own filesystem bindings fix the `descriptor` resource to
//! a wrapper around an OS file, so Strata generates its own for the two
//! filesystem interfaces only and maps everything they share (`wasi:io`,
//! `wasi:clocks`) onto wasmtime-wasi's types — which is what lets our streams
//! and pollables live in the same resource table as everyone else's.

wasmtime::component::bindgen!({
    path: "wit",
    world: "strata:host/filesystem",
    imports: { default: async | trappable | tracing },
    trappable_error_type: {
        "wasi:filesystem/types.error-code" => super::error::FsError,
    },
    with: {
        "wasi:io/error": wasmtime_wasi::p2::bindings::io::error,
        "wasi:io/poll": wasmtime_wasi::p2::bindings::io::poll,
        "wasi:io/streams": wasmtime_wasi::p2::bindings::io::streams,
        "wasi:clocks/wall-clock": wasmtime_wasi::p2::bindings::clocks::wall_clock,
        "wasi:filesystem/types.descriptor": super::descriptor::Descriptor,
        "wasi:filesystem/types.directory-entry-stream": super::readdir::DirectoryEntryStream,
    },
    require_store_data_send: true,
});

pub use self::wasi::filesystem::{preopens, types};
