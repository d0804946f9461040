//! `poll_oneoff`: waiting for clocks, stdio and files together.
//!
//! - **Clocks** (monotonic or realtime, relative or absolute) become one
//!   deadline on tokio's clock each, read against wasmtime-wasi's clocks so
//!   a virtualised clock is honoured; only the earliest is slept on, and
//!   when anything wakes the poll every deadline already passed is
//!   reported. CPU-time clocks are `EINVAL`, as in wasmtime-wasi.
//! - **Stdio** readiness is the stream's own pollable (`ready()`), awaited
//!   directly.
//! - **Files** are always ready, as POSIX has regular files: a read or
//!   write may still wait for the actor, but never for another party.
//!   `nbytes` reports, for a read, the bytes between the fd's cursor and
//!   the end of the file (what Linux's `FIONREAD` says of a regular file;
//!   wasmtime-wasi says 1), with `FD_READWRITE_HANGUP` at the end as
//!   wasmtime-wasi does; for a write, the most one `fd_write` moves
//!   (`Limits::max_io`). Stdio reports 1, as wasmtime-wasi does.
//!
//! An fd that is not open, or cannot be waited on in that direction (a
//! directory; reading stdout), fails the whole call with `EBADF`, as in
//! wasmtime-wasi. Nothing here blocks the executor: every wait is a future.

use std::collections::BTreeSet;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;
use wasmtime_wasi::p1::types::{
    Clockid, Errno, Event, EventFdReadwrite, Eventrwflags, Eventtype, Fd, Size, Subclockflags,
    Subscription, SubscriptionClock, SubscriptionU, Userdata,
};
use wasmtime_wasi::p2::Pollable;
use wiggle::{GuestMemory, GuestPtr};

use super::P1Ctx;
use super::errno::{P1Result, errno_in_result};
use super::guest::Allowance;
use super::host::{monotonic_now, wall_now};
use super::table::{Entry, FdTable};
use crate::wasi::{ErrorCode, FsResult};

/// What one subscription waits for.
enum Wait {
    /// This deadline (`None`: too far away to ever come).
    Clock(Option<Instant>),
    /// A stdio stream, by fd number.
    Stdio(u32),
    /// A file: ready at once.
    File(Fd, Eventtype),
}

struct Interest {
    userdata: Userdata,
    kind: Eventtype,
    wait: Wait,
}

/// `poll_oneoff`: waits until at least one subscription is ready, then
/// writes an event for each that is, in subscription order.
pub(super) async fn poll_oneoff(
    ctx: &mut P1Ctx,
    mem: &mut GuestMemory<'_>,
    subs: GuestPtr<Subscription>,
    events: GuestPtr<Event>,
    count: Size,
) -> P1Result<Size> {
    if count == 0 {
        // Nothing could ever wake a poll on nothing.
        return Err(Errno::Inval.into());
    }
    let (subs, events) = (subs.as_array(count), events.as_array(count));
    let mut allowance = Allowance(&mut ctx.allowance);
    allowance.spend_array::<Subscription>(count)?;
    allowance.spend_array::<Event>(count)?;

    let start = Instant::now();
    let mut interests = Vec::new();
    for slot in subs.iter() {
        let sub = mem.read(slot?)?;
        let (kind, wait) = match sub.u {
            SubscriptionU::Clock(clock) => {
                (Eventtype::Clock, Wait::Clock(deadline(ctx, &clock, start)?))
            }
            SubscriptionU::FdRead(r) => (
                Eventtype::FdRead,
                waitable(&ctx.fds, r.file_descriptor, Eventtype::FdRead)?,
            ),
            SubscriptionU::FdWrite(w) => (
                Eventtype::FdWrite,
                waitable(&ctx.fds, w.file_descriptor, Eventtype::FdWrite)?,
            ),
        };
        interests.push(Interest {
            userdata: sub.userdata,
            kind,
            wait,
        });
    }

    let earliest = interests
        .iter()
        .filter_map(|i| match i.wait {
            Wait::Clock(due) => due,
            _ => None,
        })
        .min();
    let at_once = interests.iter().any(|i| match i.wait {
        Wait::File(..) => true,
        Wait::Clock(due) => due.is_some_and(|due| due <= start),
        Wait::Stdio(_) => false,
    });
    let stdio: BTreeSet<u32> = interests
        .iter()
        .filter_map(|i| match i.wait {
            Wait::Stdio(n) => Some(n),
            _ => None,
        })
        .collect();
    let woken = wait_for(&mut ctx.fds, &stdio, earliest, at_once).await;

    let now = Instant::now();
    let mut written: Size = 0;
    for interest in &interests {
        let ready = match interest.wait {
            Wait::Clock(due) => due.is_some_and(|due| due <= now || Some(due) == woken.clock),
            Wait::Stdio(n) => woken.stdio.contains(&n),
            Wait::File(..) => true,
        };
        if !ready {
            continue;
        }
        let event = event(ctx, interest).await?;
        let slot = events.get(written).ok_or(Errno::Overflow)?;
        mem.write(slot, event)?;
        written += 1;
    }
    Ok(written)
}

/// Deadline of a clock subscription, on tokio's clock.
fn deadline(
    ctx: &mut P1Ctx,
    clock: &SubscriptionClock,
    start: Instant,
) -> P1Result<Option<Instant>> {
    let absolute = clock
        .flags
        .contains(Subclockflags::SUBSCRIPTION_CLOCK_ABSTIME);
    let wait = match (clock.id, absolute) {
        (Clockid::Monotonic | Clockid::Realtime, false) => clock.timeout,
        (Clockid::Monotonic, true) => clock.timeout.saturating_sub(monotonic_now(ctx)?),
        (Clockid::Realtime, true) => clock.timeout.saturating_sub(wall_now(ctx)?),
        (Clockid::ProcessCputimeId | Clockid::ThreadCputimeId, _) => {
            return Err(Errno::Inval.into());
        }
    };
    Ok(start.checked_add(Duration::from_nanos(wait)))
}

/// What a read or write subscription on `fd` waits for.
fn waitable(fds: &FdTable, fd: Fd, kind: Eventtype) -> P1Result<Wait> {
    match (fds.get(fd)?, kind) {
        (Entry::Stdin(_), Eventtype::FdRead) | (Entry::Output(_), Eventtype::FdWrite) => {
            Ok(Wait::Stdio(u32::from(fd)))
        }
        (Entry::File(_), _) => Ok(Wait::File(fd, kind)),
        _ => Err(Errno::Badf.into()),
    }
}

/// What woke a poll.
struct Woken {
    /// The earliest deadline, if its sleep ended.
    clock: Option<Instant>,
    /// The stdio fds found ready.
    stdio: BTreeSet<u32>,
}

/// Waits until a stdio stream is ready or the earliest deadline passes —
/// or, `at_once`, only looks whether any stream is ready right now.
async fn wait_for(
    fds: &mut FdTable,
    stdio: &BTreeSet<u32>,
    earliest: Option<Instant>,
    at_once: bool,
) -> Woken {
    type Ready<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
    let mut streams: Vec<(u32, Ready<'_>)> = fds
        .several_mut(stdio)
        .into_iter()
        .filter_map(|(n, entry)| match entry {
            Entry::Stdin(s) => Some((n, s.stream.ready())),
            Entry::Output(o) => Some((n, o.stream.ready())),
            _ => None,
        })
        .collect();
    let mut sleep = earliest.map(|due| Box::pin(tokio::time::sleep_until(due)));
    let mut woken = Woken {
        clock: None,
        stdio: BTreeSet::new(),
    };
    poll_fn(|cx| {
        for (n, ready) in &mut streams {
            if !woken.stdio.contains(n) && ready.as_mut().poll(cx).is_ready() {
                woken.stdio.insert(*n);
            }
        }
        if let Some(sleep) = &mut sleep
            && sleep.as_mut().poll(cx).is_ready()
        {
            woken.clock = earliest;
        }
        if at_once || woken.clock.is_some() || !woken.stdio.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    woken
}

/// The event for a ready subscription.
async fn event(ctx: &mut P1Ctx, interest: &Interest) -> P1Result<Event> {
    let (error, nbytes, flags) = match interest.wait {
        Wait::Clock(_) => (Errno::Success, 0, Eventrwflags::empty()),
        Wait::Stdio(_) => (Errno::Success, 1, Eventrwflags::empty()),
        Wait::File(fd, kind) => match file_readiness(ctx, fd, kind).await {
            Ok((nbytes, flags)) => (Errno::Success, nbytes, flags),
            Err(e) => (errno_in_result(e)?, 0, Eventrwflags::empty()),
        },
    };
    Ok(Event {
        userdata: interest.userdata,
        error,
        type_: interest.kind,
        fd_readwrite: EventFdReadwrite { nbytes, flags },
    })
}

/// `nbytes` and flags for a file subscription (see the module docs).
async fn file_readiness(ctx: &mut P1Ctx, fd: Fd, kind: Eventtype) -> FsResult<(u64, Eventrwflags)> {
    let Ok(file) = ctx.fds.file(fd) else {
        return Err(ErrorCode::BadDescriptor.into());
    };
    if let Eventtype::FdWrite = kind {
        return Ok((file.desc.max_io(), Eventrwflags::empty()));
    }
    let size = file.desc.stat().await?.size;
    let left = size.saturating_sub(file.cursor);
    let flags = if left == 0 {
        Eventrwflags::FD_READWRITE_HANGUP
    } else {
        Eventrwflags::empty()
    };
    Ok((left, flags))
}
