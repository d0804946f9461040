//! What the host holds: the bytes of every file chunk and the inodes of
//! the upper layer that are alive anywhere — in any fork, any fork's
//! origin, any published snapshot, any slice a reader still holds — each
//! counted once however many of them share it. The host's [`Budget`]
//! bounds these.
//!
//! Counting where memory is allocated and freed, rather than summing what
//! each fork holds, is what makes the count true under sharing: a fork of a
//! parent holding a gigabyte costs nothing, and that gigabyte is still
//! counted after the parent deletes it as long as a child keeps it.
//!
//! A chunk the core builds is wrapped ([`Meter::chunk`]) so that the
//! allocation is counted until the last `Bytes` pointing into it is
//! dropped, wherever that happens. An inode carries a charge shared by all
//! versions of its node (copy-on-write changes its node, not its identity)
//! and dropped with the last of them.
//!
//! [`Budget`]: super::Budget

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;

use super::error::Errno;
use super::limits::{Budget, Usage};

/// The live bytes and inodes of one filesystem's upper layer.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    bytes: AtomicU64,
    inodes: AtomicU64,
}

impl Meter {
    /// What is alive now. Counts rise where the filesystem is changed (the
    /// actor, or whoever owns a `Vfs` and its clones) and fall wherever the
    /// last reference goes.
    pub fn held(&self) -> Usage {
        Usage {
            bytes: self.bytes.load(Relaxed),
            inodes: self.inodes.load(Relaxed),
            open: 0,
        }
    }

    /// Whether `bytes` and `inodes` more fit in `budget`: the one place
    /// the budget is checked, before anything is allocated.
    pub fn admit(&self, budget: &Budget, bytes: u64, inodes: u64) -> Result<(), Errno> {
        let held = self.held();
        let over = |held: u64, more: u64, max: u64| more > 0 && held.saturating_add(more) > max;
        if over(held.bytes, bytes, budget.max_bytes) || over(held.inodes, inodes, budget.max_inodes)
        {
            return Err(Errno::InsufficientSpace);
        }
        Ok(())
    }

    /// `chunk`, counted until its last slice is dropped.
    pub fn chunk(self: &Arc<Self>, chunk: Bytes) -> Bytes {
        if chunk.is_empty() {
            return chunk;
        }
        self.bytes.fetch_add(chunk.len() as u64, Relaxed);
        Bytes::from_owner(Counted {
            chunk,
            meter: self.clone(),
        })
    }

    /// A new inode's charge, with `bytes` it holds outside file chunks (a
    /// symlink's target), counted until the last version of its node is
    /// dropped.
    pub fn inode(self: &Arc<Self>, bytes: u64) -> Arc<InodeCharge> {
        self.inodes.fetch_add(1, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        Arc::new(InodeCharge {
            meter: self.clone(),
            bytes,
        })
    }
}

/// A chunk that gives its bytes back to the meter when it goes.
struct Counted {
    chunk: Bytes,
    meter: Arc<Meter>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.chunk
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.meter.bytes.fetch_sub(self.chunk.len() as u64, Relaxed);
    }
}

/// One inode's place in the meter.
#[derive(Debug)]
pub(crate) struct InodeCharge {
    meter: Arc<Meter>,
    bytes: u64,
}

impl Drop for InodeCharge {
    fn drop(&mut self) {
        self.meter.inodes.fetch_sub(1, Relaxed);
        self.meter.bytes.fetch_sub(self.bytes, Relaxed);
    }
}
