//! Host bindings for `wasi:filesystem@0.3.0`, generated from the WIT that
//! wasmtime-wasi 48 ships (copied under `wit-p3/`), as the p2 ones are.
//!
//! The four methods that hand out streams and futures get the store
//! (`Access`); every other method is an `async` function on an `Accessor`,
//! which it must not hold across an `.await` — so each one takes what it
//! needs out of the resource table first. The clock types are
//! wasmtime-wasi's own.

wasmtime::component::bindgen!({
    path: "wit-p3",
    world: "strata:host-p3/filesystem",
    imports: {
        "wasi:filesystem/types.[method]descriptor.read-via-stream": store | tracing | trappable,
        "wasi:filesystem/types.[method]descriptor.write-via-stream": store | tracing | trappable,
        "wasi:filesystem/types.[method]descriptor.append-via-stream": store | tracing | trappable,
        "wasi:filesystem/types.[method]descriptor.read-directory": store | tracing | trappable,
        default: tracing | trappable,
    },
    trappable_error_type: {
        "wasi:filesystem/types.error-code" => crate::wasi::FsError,
    },
    with: {
        "wasi:clocks/system-clock": wasmtime_wasi::p3::bindings::clocks::system_clock,
        "wasi:filesystem/types.descriptor": crate::wasi::Descriptor,
    },
    require_store_data_send: true,
});

pub use self::wasi::filesystem::{preopens, types};
