//! The calls that are not about files: arguments, environment, clocks,
//! randomness, exit, yield and sockets.
//!
//! Their state is wasmtime-wasi's (`WasiCtx`: what the embedder configured
//! with its builder), so each asks wasmtime-wasi's p2 host implementation
//! and lays the answer out as p1 does: strings NUL-terminated behind an
//! array of pointers, times as u64 nanoseconds. p1 sockets are only those
//! an embedder preopens, which Strata does not: every `sock_*` call on an
//! open fd is `ENOTSOCK`.

use wasmtime_wasi::I32Exit;
use wasmtime_wasi::cli::WasiCliView as _;
use wasmtime_wasi::clocks::WasiClocksView as _;
use wasmtime_wasi::p1::types::{Clockid, Errno, Exitcode, Fd, Size, Timestamp};
use wasmtime_wasi::p2::bindings::cli::environment;
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi::p2::bindings::random::random;
use wasmtime_wasi::random::WasiRandomView as _;
use wiggle::{GuestMemory, GuestPtr};

use super::P1Ctx;
use super::errno::{P1Result, host_failure};
use super::guest::put;

/// Strings as p1 hands them over: each NUL-terminated.
fn c_strings(strings: impl IntoIterator<Item = String>) -> Vec<Vec<u8>> {
    strings
        .into_iter()
        .map(|s| {
            let mut bytes = s.into_bytes();
            bytes.push(0);
            bytes
        })
        .collect()
}

fn arguments(ctx: &mut P1Ctx) -> P1Result<Vec<Vec<u8>>> {
    let args = environment::Host::get_arguments(&mut ctx.cli()).map_err(host_failure)?;
    Ok(c_strings(args))
}

fn environment(ctx: &mut P1Ctx) -> P1Result<Vec<Vec<u8>>> {
    let vars = environment::Host::get_environment(&mut ctx.cli()).map_err(host_failure)?;
    Ok(c_strings(vars.into_iter().map(|(k, v)| format!("{k}={v}"))))
}

/// How many strings, and their bytes with NULs.
fn sizes(strings: &[Vec<u8>]) -> P1Result<(Size, Size)> {
    let count = Size::try_from(strings.len())?;
    let bytes: usize = strings.iter().map(Vec::len).sum();
    Ok((count, Size::try_from(bytes)?))
}

/// Lays `strings` out at `text`, their addresses at `pointers`.
fn lay_out(
    mem: &mut GuestMemory<'_>,
    strings: &[Vec<u8>],
    mut pointers: GuestPtr<GuestPtr<u8>>,
    mut text: GuestPtr<u8>,
) -> P1Result<()> {
    for s in strings {
        mem.write(pointers, text)?;
        pointers = pointers.add(1)?;
        text = put(mem, text, s)?;
    }
    Ok(())
}

pub(super) fn args_sizes(ctx: &mut P1Ctx) -> P1Result<(Size, Size)> {
    sizes(&arguments(ctx)?)
}

pub(super) fn args(
    ctx: &mut P1Ctx,
    mem: &mut GuestMemory<'_>,
    pointers: GuestPtr<GuestPtr<u8>>,
    text: GuestPtr<u8>,
) -> P1Result<()> {
    lay_out(mem, &arguments(ctx)?, pointers, text)
}

pub(super) fn environ_sizes(ctx: &mut P1Ctx) -> P1Result<(Size, Size)> {
    sizes(&environment(ctx)?)
}

pub(super) fn environ(
    ctx: &mut P1Ctx,
    mem: &mut GuestMemory<'_>,
    pointers: GuestPtr<GuestPtr<u8>>,
    text: GuestPtr<u8>,
) -> P1Result<()> {
    lay_out(mem, &environment(ctx)?, pointers, text)
}

/// Nanoseconds of a wall-clock time (`EOVERFLOW` past 2554).
fn wall_nanos(t: wall_clock::Datetime) -> P1Result<Timestamp> {
    t.seconds
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(u64::from(t.nanoseconds)))
        .ok_or_else(|| Errno::Overflow.into())
}

/// The wall clock now, in nanoseconds since the epoch.
pub(super) fn wall_now(ctx: &mut P1Ctx) -> P1Result<Timestamp> {
    wall_nanos(wall_clock::Host::now(&mut ctx.clocks()).map_err(host_failure)?)
}

/// The monotonic clock now, in nanoseconds.
pub(super) fn monotonic_now(ctx: &mut P1Ctx) -> P1Result<Timestamp> {
    monotonic_clock::Host::now(&mut ctx.clocks()).map_err(host_failure)
}

/// `clock_time_get`. CPU-time clocks are not offered (`EBADF`, as in
/// wasmtime-wasi). The precision asked for is ignored.
pub(super) fn clock_now(ctx: &mut P1Ctx, clock: Clockid) -> P1Result<Timestamp> {
    match clock {
        Clockid::Realtime => wall_now(ctx),
        Clockid::Monotonic => monotonic_now(ctx),
        Clockid::ProcessCputimeId | Clockid::ThreadCputimeId => Err(Errno::Badf.into()),
    }
}

/// `clock_res_get`.
pub(super) fn clock_resolution(ctx: &mut P1Ctx, clock: Clockid) -> P1Result<Timestamp> {
    let mut clocks = ctx.clocks();
    match clock {
        Clockid::Realtime => {
            wall_nanos(wall_clock::Host::resolution(&mut clocks).map_err(host_failure)?)
        }
        Clockid::Monotonic => monotonic_clock::Host::resolution(&mut clocks).map_err(host_failure),
        Clockid::ProcessCputimeId | Clockid::ThreadCputimeId => Err(Errno::Badf.into()),
    }
}

/// Random bytes are made and copied in pieces of this size, so a guest
/// asking for its whole memory costs the host no more than this at once.
const RANDOM_PIECE: u32 = 64 << 10;

/// `random_get`.
pub(super) fn random(
    ctx: &mut P1Ctx,
    mem: &mut GuestMemory<'_>,
    into: GuestPtr<u8>,
    len: Size,
) -> P1Result<()> {
    let mut at = into;
    let mut left = len;
    while left > 0 {
        let n = left.min(RANDOM_PIECE);
        let bytes = random::Host::get_random_bytes(&mut ctx.random(), u64::from(n))
            .map_err(host_failure)?;
        at = put(mem, at, &bytes)?;
        left -= n;
    }
    Ok(())
}

/// `proc_exit`: ends the guest with `status` (which p1 bounds below 126;
/// beyond is a trap).
pub(super) fn exit(status: Exitcode) -> wasmtime::Error {
    match i32::try_from(status) {
        Ok(code) if status < 126 => I32Exit(code).into(),
        _ => wasmtime::Error::msg("exit with invalid exit status outside of [0..126)"),
    }
}

/// `sock_accept`, `sock_recv`, `sock_send`, `sock_shutdown`: `EBADF` for a
/// closed fd, otherwise `ENOTSOCK`.
pub(super) fn not_a_socket(ctx: &P1Ctx, fd: Fd) -> P1Result<std::convert::Infallible> {
    ctx.fds.get(fd)?;
    Err(Errno::Notsock.into())
}
