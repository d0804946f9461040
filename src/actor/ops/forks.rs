//! Operations on whole forks, and on the actor itself.

use super::{Effect, Exec, Failure, Operation};
use crate::fs::{Change, CommitError, ForkId, Snapshot, Usage};

/// A new O(1) copy-on-write fork of `parent`; answers its id.
#[derive(Debug)]
pub(crate) struct NewFork {
    pub parent: ForkId,
}

impl Operation for NewFork {
    type Output = ForkId;

    fn effect(&self) -> Effect {
        Effect::Nothing
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<ForkId, Failure> {
        let fork = on.vfs.fork(self.parent)?;
        // Published before the caller learns its id.
        on.mark(fork);
        Ok(fork)
    }
}

/// The paths a fork changed since it was made.
#[derive(Debug)]
pub(crate) struct Diff {
    pub fork: ForkId,
}

impl Operation for Diff {
    type Output = Vec<Change>;

    fn effect(&self) -> Effect {
        Effect::Nothing
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<Vec<Change>, Failure> {
        Ok(on.vfs.diff(self.fork)?)
    }
}

/// Folds a fork into its parent and closes it, or reports the conflicting
/// paths and applies nothing.
#[derive(Debug)]
pub(crate) struct Commit {
    pub fork: ForkId,
}

impl Operation for Commit {
    type Output = ();

    fn effect(&self) -> Effect {
        Effect::Commits(self.fork)
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<(), Failure> {
        on.vfs.commit(self.fork).map_err(|e| match e {
            CommitError::Conflict(paths) => Failure::Conflict(paths),
            CommitError::Failed(e) => Failure::Fs(e),
        })?;
        tracing::debug!(fork = ?self.fork, "committed");
        Ok(())
    }
}

/// Throws a fork away.
#[derive(Debug)]
pub(crate) struct Discard {
    pub fork: ForkId,
}

impl Operation for Discard {
    type Output = ();

    fn effect(&self) -> Effect {
        Effect::Changes(self.fork)
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<(), Failure> {
        Ok(on.vfs.discard(self.fork)?)
    }
}

/// What a fork holds now, against the limits.
#[derive(Debug)]
pub(crate) struct UsageOf {
    pub fork: ForkId,
}

impl Operation for UsageOf {
    type Output = Usage;

    fn effect(&self) -> Effect {
        Effect::Nothing
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<Usage, Failure> {
        Ok(on.vfs.usage(self.fork)?)
    }
}

/// The fork as it is now, asked of the actor while its published snapshot
/// is taken back (see `Actor::unshare`).
#[derive(Debug)]
pub(crate) struct SnapshotOf {
    pub fork: ForkId,
}

impl Operation for SnapshotOf {
    type Output = Snapshot;

    fn effect(&self) -> Effect {
        Effect::Nothing
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<Snapshot, Failure> {
        Ok(on.vfs.snapshot(self.fork)?)
    }
}

/// What all forks together hold now, against the budget.
#[derive(Debug)]
pub(crate) struct BudgetUsed;

impl Operation for BudgetUsed {
    type Output = Usage;

    fn effect(&self) -> Effect {
        Effect::Nothing
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<Usage, Failure> {
        Ok(on.vfs.budget_used())
    }
}

/// Stops the actor once this batch is done; answered when it has stopped.
#[derive(Debug)]
pub(crate) struct Shutdown;

impl Operation for Shutdown {
    type Output = ();

    fn effect(&self) -> Effect {
        Effect::Stops
    }

    fn run(&self, _: &mut Exec<'_>) -> Result<(), Failure> {
        Ok(())
    }
}
