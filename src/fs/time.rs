//! Timestamps and the injectable clock.
//!
//! The core never reads the system time directly: it asks a [`Clock`], so a
//! test (or a deterministic replica) can supply [`ManualClock`] and get the
//! same timestamps on every run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time as WASI's `datetime`: seconds and nanoseconds since the
/// Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub seconds: u64,
    /// Nanoseconds past `seconds`, always below 1e9.
    pub nanoseconds: u32,
}

impl Timestamp {
    /// The epoch itself.
    pub const ZERO: Timestamp = Timestamp {
        seconds: 0,
        nanoseconds: 0,
    };

    /// Builds a timestamp, or `None` if `nanoseconds` is out of range.
    pub fn new(seconds: u64, nanoseconds: u32) -> Option<Timestamp> {
        (nanoseconds < 1_000_000_000).then_some(Timestamp {
            seconds,
            nanoseconds,
        })
    }

    /// Builds a timestamp from nanoseconds since the epoch.
    pub fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp {
            seconds: nanos / 1_000_000_000,
            nanoseconds: (nanos % 1_000_000_000) as u32,
        }
    }
}

/// How `set-times` should change one timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTime {
    /// Leave it alone.
    Keep,
    /// Set it to the clock's current time.
    Now,
    /// Set it to this value.
    At(Timestamp),
}

/// Where the core gets "now" from.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The host's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            seconds: since.as_secs(),
            nanoseconds: since.subsec_nanos(),
        }
    }
}

/// A clock that only moves when told to: for tests and deterministic runs.
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        let nanos = start.seconds * 1_000_000_000 + u64::from(start.nanoseconds);
        ManualClock {
            nanos: AtomicU64::new(nanos),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, nanos: u64) {
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}
