//! What travels over the request channel: each request an [`Operation`]
//! with the oneshot its typed answer goes back on. (The one-way notes are
//! `shared::Note`.)
//!
//! The actor holds requests as `Box<dyn Pending>`: it runs, parks and
//! answers them without knowing which operation each is, and the caller
//! gets the operation's own `Output` type back — no answer enum to unpack.

use tokio::sync::oneshot;

use super::Error;
use super::ops::{Effect, Exec, Failure, Operation};
use crate::fs::{self, Need};

/// A request as the actor sees it.
pub(crate) type Request = Box<dyn Pending>;

/// A request waiting to run, or ran and waiting to be answered.
pub(crate) trait Pending: Send {
    /// What running it may change.
    fn effect(&self) -> Effect;

    /// Whether its caller gave up waiting.
    fn abandoned(&self) -> bool;

    /// Runs it, keeping the outcome for [`Pending::answer`]; or, if it
    /// needs base data not fetched yet, says which (it had no effect and
    /// can run again).
    fn attempt(&mut self, on: &mut Exec<'_>) -> Result<(), Need>;

    /// Sends the outcome of the last attempt to the caller.
    fn answer(self: Box<Self>);

    /// Answers with `error` instead of running.
    fn fail(self: Box<Self>, error: Error);
}

/// An operation and where its answer goes.
pub(crate) struct Call<O: Operation> {
    op: O,
    reply: oneshot::Sender<Result<O::Output, Error>>,
    outcome: Option<Result<O::Output, Error>>,
}

impl<O: Operation> Call<O> {
    /// A request to send, and the receiver its answer arrives on.
    pub fn send(op: O) -> (Request, oneshot::Receiver<Result<O::Output, Error>>) {
        tracing::trace!(?op, "request");
        let (reply, answer) = oneshot::channel();
        let call = Call {
            op,
            reply,
            outcome: None,
        };
        (Box::new(call), answer)
    }
}

impl<O: Operation> Pending for Call<O> {
    fn effect(&self) -> Effect {
        self.op.effect()
    }

    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn attempt(&mut self, on: &mut Exec<'_>) -> Result<(), Need> {
        // A panic inside — a bug, or an embedder's `Base` or `Clock` that
        // panics — fails this request with `Io`, and the actor serves
        // everyone else. Nothing is left half-done: a core operation that
        // fails or unwinds undoes what it changed (see `Vfs::apply`), so
        // the fork is as it was before the request.
        let run = std::panic::AssertUnwindSafe(|| self.op.run(on));
        let outcome =
            std::panic::catch_unwind(run).unwrap_or(Err(Failure::Fs(fs::Errno::Io.into())));
        self.outcome = Some(match outcome {
            Err(Failure::Fs(fs::Error::NeedsBase(need))) => return Err(need),
            Ok(output) => Ok(output),
            Err(failure) => {
                let error = Error::from(failure);
                // A refused write, a commit conflict, a quota: the caller
                // sees the error; whoever runs the host sees why.
                tracing::debug!(op = ?self.op, %error, "refused");
                Err(error)
            }
        });
        Ok(())
    }

    fn answer(self: Box<Self>) {
        let outcome = self.outcome.unwrap_or(Err(Error::Stopped));
        // A caller that went away drops the answer; a `Held` in it gives
        // its handle back on drop, so nothing leaks.
        let _ = self.reply.send(outcome);
    }

    fn fail(self: Box<Self>, error: Error) {
        let _ = self.reply.send(Err(error));
    }
}
