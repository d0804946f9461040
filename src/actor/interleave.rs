//! Interleaving points: the places in the protocol between handles and the
//! actor where the other side may run in between — every read or write of
//! state they share (the published cells, the in-flight count, the notes).
//!
//! In a normal build [`point`] is empty and compiles away. In the crate's
//! own tests, inside a model-check run (`model.rs`), it hands control to
//! the model checker (shuttle), which tries the orders of these steps that
//! matter; code between two points runs as one step. A point must not sit
//! inside a critical section of a lock: the model's threads share one OS
//! thread.

/// Lets the other side run here, in a model-check run; nothing otherwise.
#[inline(always)]
pub(crate) fn point() {
    #[cfg(test)]
    model::point();
}

#[cfg(test)]
pub(crate) mod model {
    use std::cell::Cell;

    thread_local! {
        static CHECKING: Cell<bool> = const { Cell::new(false) };
    }

    pub(crate) fn point() {
        if CHECKING.with(Cell::get) {
            // Shuttle's scheduling point without a yield hint.
            shuttle::thread::sleep(std::time::Duration::ZERO);
        }
    }

    /// Runs `f` with the points live (on this OS thread, where shuttle runs
    /// every thread of a model).
    pub(crate) fn checking<T>(f: impl FnOnce() -> T) -> T {
        CHECKING.with(|c| c.set(true));
        let out = f();
        CHECKING.with(|c| c.set(false));
        out
    }
}
