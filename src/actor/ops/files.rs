//! Operations on an open file's data and metadata.

use std::fmt;

use bytes::Bytes;

use super::{Effect, Exec, Failure, Operation, Read};
use crate::fs::{self, ForkId, Ino, Reader, SetTime, Stat};

/// Writes `data` at `offset`; answers the count written.
pub(crate) struct Write {
    pub fork: ForkId,
    pub ino: Ino,
    pub offset: u64,
    pub data: Bytes,
}

impl Operation for Write {
    type Output = usize;

    fn effect(&self) -> Effect {
        Effect::Changes(self.fork)
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<usize, Failure> {
        Ok(on
            .vfs
            .write_bytes(self.fork, self.ino, self.offset, &self.data)?)
    }
}

/// Writes `data` at the end of the file; answers where it went and the count.
pub(crate) struct Append {
    pub fork: ForkId,
    pub ino: Ino,
    pub data: Bytes,
}

impl Operation for Append {
    type Output = (u64, usize);

    fn effect(&self) -> Effect {
        Effect::Changes(self.fork)
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<(u64, usize), Failure> {
        Ok(on.vfs.append_bytes(self.fork, self.ino, &self.data)?)
    }
}

/// Makes `len` bytes at `offset` read as zeros; answers the count.
#[derive(Debug)]
pub(crate) struct WriteZeroes {
    pub fork: ForkId,
    pub ino: Ino,
    pub offset: u64,
    pub len: u64,
}

impl Operation for WriteZeroes {
    type Output = u64;

    fn effect(&self) -> Effect {
        Effect::Changes(self.fork)
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<u64, Failure> {
        Ok(on
            .vfs
            .write_zeroes(self.fork, self.ino, self.offset, self.len)?)
    }
}

/// Truncates or extends a file.
#[derive(Debug)]
pub(crate) struct SetSize {
    pub fork: ForkId,
    pub ino: Ino,
    pub size: u64,
}

impl Operation for SetSize {
    type Output = ();

    fn effect(&self) -> Effect {
        Effect::Changes(self.fork)
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<(), Failure> {
        Ok(on.vfs.set_size(self.fork, self.ino, self.size)?)
    }
}

/// Sets an open object's access and modification times.
#[derive(Debug)]
pub(crate) struct SetTimes {
    pub fork: ForkId,
    pub ino: Ino,
    pub atime: SetTime,
    pub mtime: SetTime,
}

impl Operation for SetTimes {
    type Output = ();

    fn effect(&self) -> Effect {
        Effect::Changes(self.fork)
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<(), Failure> {
        Ok(on
            .vfs
            .set_times(self.fork, self.ino, self.atime, self.mtime)?)
    }
}

/// Metadata of an open object.
#[derive(Debug)]
pub(crate) struct StatOf {
    pub fork: ForkId,
    pub ino: Ino,
}

impl Read for StatOf {
    type Output = Stat;

    fn fork(&self) -> ForkId {
        self.fork
    }

    fn read(&self, from: Reader<'_>) -> fs::Result<Stat> {
        from.stat(self.ino)
    }
}

/// Up to `len` bytes at `offset`, as slices shared with the file's chunks.
#[derive(Debug)]
pub(crate) struct ReadData {
    pub fork: ForkId,
    pub ino: Ino,
    pub offset: u64,
    pub len: u64,
}

impl Read for ReadData {
    type Output = Vec<Bytes>;

    fn fork(&self) -> ForkId {
        self.fork
    }

    fn read(&self, from: Reader<'_>) -> fs::Result<Vec<Bytes>> {
        from.read(self.ino, self.offset, self.len)
    }
}

// Traces show how much a write carries, not the bytes.
impl fmt::Debug for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Write")
            .field("fork", &self.fork)
            .field("ino", &self.ino)
            .field("offset", &self.offset)
            .field("len", &self.data.len())
            .finish()
    }
}

impl fmt::Debug for Append {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Append")
            .field("fork", &self.fork)
            .field("ino", &self.ino)
            .field("len", &self.data.len())
            .finish()
    }
}
