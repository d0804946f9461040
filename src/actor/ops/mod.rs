//! Every request the actor serves, each declared once.
//!
//! An operation is a struct holding its arguments, and one `impl`: what it
//! answers (`Output`), which fork it may change (`effect`, so the actor
//! knows what to publish), and how it runs. The handle sends the struct and
//! gets the typed answer back; the actor runs it without knowing which
//! operation it is. Adding an operation is adding one struct and one impl
//! here, plus the public method that sends it.
//!
//! Reads ([`Read`]) are declared against a snapshot's [`Reader`]: the
//! handle runs them on the published snapshot on its own thread, and the
//! actor runs the very same code only when that snapshot lacked base data
//! still to be fetched.
//!
//! Operations are plain data so that the actor can park one that needs base
//! data and run it again, from scratch, once the data has arrived: `run`
//! takes `&self` and must not consume its arguments.
//!
//! The files group them by what they act on: [`files`] (an open file's
//! data and metadata), [`names`] (paths under an open directory, opening
//! included), [`forks`] (whole forks, and the actor itself).

pub(crate) mod files;
pub(crate) mod forks;
pub(crate) mod names;

use std::fmt;

use super::Error;
use super::shared::{ForkCells, Note, Notes};
use crate::fs::{self, Errno, ForkId, Ino, Kind, Reader, Vfs};

/// One request kind.
pub(crate) trait Operation: fmt::Debug + Send + 'static {
    type Output: Send + 'static;

    /// What running it may change.
    fn effect(&self) -> Effect;

    /// Runs it on the actor's filesystem.
    fn run(&self, on: &mut Exec<'_>) -> Result<Self::Output, Failure>;
}

/// A read of one fork, served from its published snapshot.
pub(crate) trait Read: fmt::Debug + Send + 'static {
    type Output: Send + 'static;

    /// The fork it reads.
    fn fork(&self) -> ForkId;

    /// Reads from a snapshot of that fork.
    fn read(&self, from: Reader<'_>) -> fs::Result<Self::Output>;
}

/// A [`Read`] the published snapshot could not serve, sent to the actor.
#[derive(Debug)]
pub(crate) struct Reading<R>(pub R);

impl<R: Read> Operation for Reading<R> {
    type Output = R::Output;

    fn effect(&self) -> Effect {
        Effect::Nothing
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<R::Output, Failure> {
        Ok(self.0.read(on.vfs.reader(self.0.fork())?)?)
    }
}

/// What an operation may change, for the actor to publish afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing any snapshot shows.
    Nothing,
    /// Nothing in this fork's tree, but the fork must be published (its
    /// cell, which counts handles, must exist).
    Publishes(ForkId),
    /// This fork's tree.
    Changes(ForkId),
    /// This fork and its parent (a commit).
    Commits(ForkId),
    /// The actor stops after this batch.
    Stops,
}

/// How an operation failed, before it is turned into an [`Error`].
#[derive(Debug)]
pub(crate) enum Failure {
    /// The core's answer (a `NeedsBase` parks the request).
    Fs(fs::Error),
    /// A commit was refused.
    Conflict(Vec<String>),
}

impl From<fs::Error> for Failure {
    fn from(e: fs::Error) -> Self {
        Failure::Fs(e)
    }
}

impl From<Errno> for Failure {
    fn from(e: Errno) -> Self {
        Failure::Fs(e.into())
    }
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Fs(e) => Error::from(e),
            Failure::Conflict(paths) => Error::Conflict(paths),
        }
    }
}

/// Adds `fork` to the forks to publish after this round, once.
pub(crate) fn mark(dirty: &mut Vec<ForkId>, fork: ForkId) {
    if !dirty.contains(&fork) {
        dirty.push(fork);
    }
}

/// What an operation runs against: the actor's filesystem and the little
/// of the actor's state that opening and forking need.
pub(crate) struct Exec<'a> {
    pub vfs: &'a mut Vfs,
    pub(super) cells: &'a ForkCells,
    pub(super) notes: &'a Notes,
    /// Forks to publish after this batch.
    pub(super) dirty: &'a mut Vec<ForkId>,
}

impl Exec<'_> {
    /// Publishes `fork` after this batch.
    pub fn mark(&mut self, fork: ForkId) {
        mark(self.dirty, fork);
    }

    /// Runs an open with a handle taken from `fork`'s count against
    /// `Limits::max_open`, given back if the open fails, misses (it runs
    /// again later) or unwinds.
    pub fn open_with(
        &mut self,
        fork: ForkId,
        open: impl FnOnce(&mut Vfs) -> fs::Result<(Ino, Kind)>,
    ) -> Result<Held, Failure> {
        // A fork not published yet has no cell: its cell will start from
        // the core's count.
        let reserved = match self.cells.get(&fork) {
            Some(cell) => {
                let max_open = self.vfs.limits().max_open;
                Some(cell.reserve_open(max_open).ok_or(Errno::TooManyOpen)?)
            }
            None => None,
        };
        let (ino, kind) = open(self.vfs)?;
        if let Some(reserved) = reserved {
            reserved.keep();
        }
        Ok(Held::new(fork, ino, kind, self.notes.clone()))
    }
}

/// A handle the actor took for a caller, on its way to the caller's
/// [`OpenFile`](super::OpenFile). Dropping it gives the handle back, so a
/// caller cancelled while the answer was on its way leaks nothing.
#[derive(Debug)]
pub(crate) struct Held {
    pub fork: ForkId,
    pub ino: Ino,
    pub kind: Kind,
    notes: Option<Notes>,
}

impl Held {
    pub fn new(fork: ForkId, ino: Ino, kind: Kind, notes: Notes) -> Held {
        Held {
            fork,
            ino,
            kind,
            notes: Some(notes),
        }
    }

    /// Disarms the guard: the caller owns the handle now.
    pub fn keep(mut self) -> (ForkId, Ino, Kind) {
        self.notes = None;
        (self.fork, self.ino, self.kind)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(notes) = self.notes.take() {
            // If the actor is gone, so is everything there was to release.
            notes.send(Note::Release(self.fork, self.ino));
        }
    }
}
