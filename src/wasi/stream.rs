//! File streams: `read-via-stream`, `write-via-stream`, `append-via-stream`.
//!
//! Each stream holds its own cursor — never the descriptor's — so any number
//! of streams on one descriptor move independently. A stream holds the open
//! file too, so it keeps working after the descriptor is dropped.
//!
//! Readiness: a read first tries the actor's published snapshot, on the
//! caller's thread; for in-memory data that answers at once and the stream's
//! pollable is ready immediately. Only when base data must still be fetched
//! does the stream hand the read to the actor in the background and become
//! genuinely pending. Background work reports through a [`Slot`]: a value
//! plus a `tokio::sync::Notify`, waited on with interest registered before
//! the value is checked, so a completion cannot slip between the two.
//! Blocking variants (`blocking-read`, `blocking-write-and-flush`) simply
//! await the actor, with no background task at all.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::Notify;
use wasmtime_wasi::OpenMode;
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError, StreamResult};

use super::descriptor::Descriptor;
use super::error::stream_error;
use crate::actor::{self, OpenFile, served_at_once};
use crate::fs::Errno;

/// A value produced in the background, and the means to wait for it.
pub(crate) struct Slot<T> {
    value: Mutex<Option<T>>,
    notify: Notify,
}

impl<T: Send + 'static> Slot<T> {
    /// Runs `work` on its own task; its result lands in the returned slot.
    fn spawn(work: impl std::future::Future<Output = T> + Send + 'static) -> Arc<Slot<T>> {
        let slot = Arc::new(Slot {
            value: Mutex::new(None),
            notify: Notify::new(),
        });
        let filler = slot.clone();
        tokio::spawn(async move {
            let value = work.await;
            *filler.value.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
            filler.notify.notify_waiters();
        });
        slot
    }

    fn take(&self) -> Option<T> {
        self.value
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn is_filled(&self) -> bool {
        self.value
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Waits until the value is there (without taking it).
    async fn filled(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Register interest first, then look: a fill between the two still
        // wakes us.
        notified.as_mut().enable();
        if self.is_filled() {
            return;
        }
        notified.await;
    }
}

/// A read handed to the actor, and its outcome.
type ReadSlot = Slot<Result<Vec<Bytes>, actor::Error>>;

/// How much a stream reads from the snapshot when polled for readiness
/// before the guest asked for a size.
const READ_AHEAD: u64 = 64 * 1024;

/// The most `check-write` ever grants, whatever the limits: the host holds
/// one write's bytes at once, so even `Limits::unlimited()` must not let a
/// guest hand over gigabytes in one call.
pub(crate) const MAX_WRITE: u64 = 16 << 20;

/// `read-via-stream`: reads from its own cursor.
pub(crate) struct FileInputStream {
    file: Arc<OpenFile>,
    readable: bool,
    position: u64,
    /// Read but not yet handed out. What the actor fetched because the
    /// snapshot lacked it is kept until handed out (`kept`); what came from
    /// the snapshot (read ahead by readiness, or the rest of a read that
    /// crossed a chunk) serves the next read only, and what that leaves is
    /// dropped, so the read after sees any write made in between.
    buffered: VecDeque<Bytes>,
    /// Whether `buffered` came from a background fetch.
    kept: bool,
    /// A read waiting for base data.
    pending: Option<Arc<ReadSlot>>,
    closed: bool,
}

impl FileInputStream {
    pub fn new(d: &Descriptor, position: u64) -> FileInputStream {
        FileInputStream {
            file: d.file.clone(),
            readable: d.mode.contains(OpenMode::READ),
            position,
            buffered: VecDeque::new(),
            kept: false,
            pending: None,
            closed: false,
        }
    }

    /// Takes in a finished read: data to buffer, or end of file. `kept`:
    /// fetched in the background, to keep until handed out.
    fn accept(&mut self, pieces: Vec<Bytes>, kept: bool) {
        if pieces.iter().all(Bytes::is_empty) {
            self.closed = true;
        }
        self.kept = kept;
        self.buffered
            .extend(pieces.into_iter().filter(|p| !p.is_empty()));
    }

    /// Fills the buffer from the snapshot, or starts a background read.
    /// Returns an error the guest should see.
    fn fill(&mut self, len: u64) -> StreamResult<()> {
        if let Some(slot) = &self.pending {
            match slot.take() {
                Some(Ok(pieces)) => {
                    self.pending = None;
                    self.accept(pieces, true);
                }
                Some(Err(e)) => {
                    self.pending = None;
                    return Err(stream_error(e));
                }
                None => return Ok(()), // still waiting
            }
            return Ok(());
        }
        let (ino, position) = (self.file.ino(), self.position);
        match self.file.read_snapshot(|r| r.read(ino, position, len)) {
            Some(Ok(pieces)) => self.accept(pieces, false),
            Some(Err(e)) => return Err(stream_error(e)),
            None => {
                let file = self.file.clone();
                self.pending = Some(Slot::spawn(async move { file.read(position, len).await }));
            }
        }
        Ok(())
    }

    /// Hands out up to `size` buffered bytes, advancing the cursor.
    fn take(&mut self, size: usize) -> Bytes {
        let Some(front) = self.buffered.front_mut() else {
            return Bytes::new();
        };
        let piece = front.split_to(size.min(front.len()));
        if front.is_empty() {
            self.buffered.pop_front();
        }
        self.position += piece.len() as u64;
        piece
    }

    fn check_readable(&self) -> StreamResult<()> {
        if self.readable {
            Ok(())
        } else {
            Err(stream_error(Errno::BadDescriptor))
        }
    }
}

#[wasmtime_wasi::async_trait]
impl InputStream for FileInputStream {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        self.check_readable()?;
        if size == 0 {
            return Ok(Bytes::new());
        }
        if self.buffered.is_empty() {
            if self.closed {
                return Err(StreamError::Closed);
            }
            self.fill(size as u64)?;
        }
        if self.buffered.is_empty() && self.closed {
            return Err(StreamError::Closed);
        }
        let piece = self.take(size);
        if !self.kept {
            self.buffered.clear();
        }
        Ok(piece)
    }

    async fn blocking_read(&mut self, size: usize) -> StreamResult<Bytes> {
        self.check_readable()?;
        if size > 0 && self.buffered.is_empty() && !self.closed {
            if let Some(slot) = &self.pending {
                slot.filled().await;
                self.fill(size as u64)?;
            } else {
                let pieces = self
                    .file
                    .read(self.position, size as u64)
                    .await
                    .map_err(stream_error)?;
                self.accept(pieces, false);
            }
        }
        self.read(size)
    }

    fn skip(&mut self, nelem: usize) -> StreamResult<usize> {
        self.check_readable()?;
        if nelem == 0 {
            return Ok(0);
        }
        if !self.buffered.is_empty() {
            return Ok(self.take(nelem).len());
        }
        // Skipping needs only the file's size, not its data.
        let ino = self.file.ino();
        match self.file.read_snapshot(|r| r.stat(ino)) {
            Some(Ok(stat)) if self.pending.is_none() => {
                if self.closed || self.position >= stat.size {
                    self.closed = true;
                    return Err(StreamError::Closed);
                }
                let n = (nelem as u64).min(stat.size - self.position);
                self.position += n;
                Ok(n as usize)
            }
            Some(Err(e)) => Err(stream_error(e)),
            _ => Ok(self.read(nelem)?.len()),
        }
    }

    async fn cancel(&mut self) {
        self.pending = None;
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for FileInputStream {
    async fn ready(&mut self) {
        // Ready at once for in-memory data: counted like the handle's calls
        // served at once, so a guest polling in a loop still yields its
        // worker now and then.
        served_at_once(()).await;
        if !self.buffered.is_empty() || self.closed || !self.readable {
            return;
        }
        // What readiness read is what the next read hands out, as with
        // wasmtime-wasi's own file streams.
        if self.pending.is_none() && self.fill(READ_AHEAD).is_err() {
            return; // the error is ready to be reported
        }
        if let Some(slot) = &self.pending {
            slot.filled().await;
        }
    }
}

/// Where an output stream writes.
#[derive(Clone, Copy, Debug)]
enum Target {
    At(u64),
    Append,
}

enum WriteState {
    Ready,
    /// A write in flight; its result (the new position) lands in the slot.
    Busy(Arc<Slot<Result<Option<u64>, actor::Error>>>),
    /// The last write failed; the next call reports it.
    Failed(StreamError),
    Closed,
}

/// `write-via-stream` and `append-via-stream`: writes at its own cursor (or
/// at the end of the file).
pub(crate) struct FileOutputStream {
    file: Arc<OpenFile>,
    writable: bool,
    target: Target,
    state: WriteState,
    /// What the last `check-write` allowed.
    granted: usize,
}

impl FileOutputStream {
    pub fn at(d: &Descriptor, position: u64) -> FileOutputStream {
        FileOutputStream::new(d, Target::At(position))
    }

    pub fn append(d: &Descriptor) -> FileOutputStream {
        FileOutputStream::new(d, Target::Append)
    }

    fn new(d: &Descriptor, target: Target) -> FileOutputStream {
        FileOutputStream {
            file: d.file.clone(),
            writable: d.mode.contains(OpenMode::WRITE),
            target,
            state: WriteState::Ready,
            granted: 0,
        }
    }

    /// Writes `data` (or `zeroes` bytes of zeros) where this stream writes;
    /// returns the new cursor for positioned streams.
    fn work(
        &self,
        data: Bytes,
        zeroes: u64,
    ) -> impl std::future::Future<Output = Result<Option<u64>, actor::Error>> + Send + 'static {
        let (file, target) = (self.file.clone(), self.target);
        async move {
            match target {
                Target::At(mut at) => {
                    if zeroes > 0 {
                        at += file.write_zeroes(at, zeroes).await?;
                    }
                    let mut data = data;
                    while !data.is_empty() {
                        let n = file.write(at, data.clone()).await?;
                        data = data.slice(n..);
                        at += n as u64;
                    }
                    Ok(Some(at))
                }
                Target::Append => {
                    let mut data = data;
                    if zeroes > 0 {
                        // Appended zeros are still zeros; they are rare enough
                        // to build, and bounded by `check-write`.
                        data = Bytes::from(vec![0u8; zeroes as usize]);
                    }
                    while !data.is_empty() {
                        let (_, n) = file.append(data.clone()).await?;
                        data = data.slice(n..);
                    }
                    Ok(None)
                }
            }
        }
    }

    /// Moves a finished write's result into the state.
    fn settle(&mut self) {
        if let WriteState::Busy(slot) = &self.state
            && let Some(result) = slot.take()
        {
            self.state = match result {
                Ok(position) => {
                    if let (Some(p), Target::At(_)) = (position, self.target) {
                        self.target = Target::At(p);
                    }
                    WriteState::Ready
                }
                Err(e) => WriteState::Failed(stream_error(e)),
            };
        }
    }

    /// Reports a recorded failure once, then the stream is closed.
    fn failure(&mut self) -> StreamResult<()> {
        match std::mem::replace(&mut self.state, WriteState::Closed) {
            WriteState::Failed(e) => Err(e),
            WriteState::Closed => Err(StreamError::Closed),
            other => {
                self.state = other;
                Ok(())
            }
        }
    }

    fn start(&mut self, data: Bytes, zeroes: u64) -> StreamResult<()> {
        self.settle();
        match self.state {
            WriteState::Ready => {}
            WriteState::Busy(_) => {
                return Err(StreamError::trap(
                    "write not permitted: check-write not called first",
                ));
            }
            _ => return self.failure(),
        }
        if !self.writable {
            self.state = WriteState::Failed(stream_error(Errno::BadDescriptor));
            return Ok(());
        }
        self.state = WriteState::Busy(Slot::spawn(self.work(data, zeroes)));
        Ok(())
    }

    /// The most a write may carry without breaking the stream's contract:
    /// what `check-write` promised (the fork may have filled since — the
    /// write then fails with `insufficient-space`, it does not trap), or
    /// the budget now if that is more.
    fn allowed(&self) -> usize {
        self.granted.max(self.budget())
    }

    /// How much one write may carry: the per-call limit, and no more than
    /// the fork's remaining space (at least one byte, so that a full fork
    /// reports `insufficient-space` instead of waiting forever).
    fn budget(&self) -> usize {
        self.file
            .read_snapshot(|r| {
                Ok((
                    r.limits().max_io,
                    r.limits().max_bytes.saturating_sub(r.usage().bytes),
                ))
            })
            .and_then(Result::ok)
            .map(|(max_io, room)| max_io.min(room.max(1)).min(MAX_WRITE) as usize)
            // No snapshot to read: the actor is changing the fork at this
            // moment (what `check-write` allowed still stands; the write
            // reports a quota it meets), or it has stopped or the fork is
            // gone (the write reports why).
            .unwrap_or(self.granted.max(1))
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for FileOutputStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if bytes.len() > self.allowed() {
            return Err(StreamError::trap("write larger than check-write allows"));
        }
        self.start(bytes, 0)
    }

    fn write_zeroes(&mut self, nelem: usize) -> StreamResult<()> {
        if nelem > self.allowed() {
            return Err(StreamError::trap(
                "cannot write more zeroes than check-write allows",
            ));
        }
        self.start(Bytes::new(), nelem as u64)
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Writes go straight to the filesystem; a flush only reports errors.
        self.settle();
        match self.state {
            WriteState::Ready | WriteState::Busy(_) => Ok(()),
            _ => self.failure(),
        }
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.settle();
        match self.state {
            WriteState::Ready => {
                self.granted = self.budget();
                Ok(self.granted)
            }
            WriteState::Busy(_) => Ok(0),
            _ => self.failure().map(|()| 0),
        }
    }

    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.ready().await;
        self.settle();
        match self.state {
            WriteState::Ready => {}
            _ => return self.failure(),
        }
        if !self.writable {
            return Err(stream_error(Errno::BadDescriptor));
        }
        match self.work(bytes, 0).await {
            Ok(position) => {
                if let (Some(p), Target::At(_)) = (position, self.target) {
                    self.target = Target::At(p);
                }
                Ok(())
            }
            Err(e) => {
                self.state = WriteState::Closed;
                Err(stream_error(e))
            }
        }
    }

    async fn cancel(&mut self) {
        // Let a write in flight finish: dropping the stream must not lose it.
        self.ready().await;
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for FileOutputStream {
    async fn ready(&mut self) {
        served_at_once(()).await; // as for input streams
        if let WriteState::Busy(slot) = &self.state {
            slot.filled().await;
        }
        self.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{OpenOptions, VfsBuilder};
    use crate::fs::CHUNK_SIZE;
    use wasmtime_wasi::FsPerms;

    /// A read that stops at a chunk's end keeps nothing of the next chunk:
    /// the read after it sees a write made in between.
    #[tokio::test]
    async fn a_read_across_a_chunk_keeps_nothing_stale() {
        let vfs = VfsBuilder::new().spawn();
        let fork = vfs.root();
        fork.write_file("f", &vec![b'.'; 2 * CHUNK_SIZE as usize])
            .await
            .unwrap();
        let root = fork.open_root().await.unwrap();
        let file = root
            .open_at("f", OpenOptions::new().write(true))
            .await
            .unwrap();
        let file = Arc::new(file);
        let d = Descriptor {
            file: file.clone(),
            mode: OpenMode::READ | OpenMode::WRITE,
            perms: FsPerms::ReadWrite,
        };
        let mut stream = FileInputStream::new(&d, CHUNK_SIZE - 6);
        assert_eq!(&stream.read(12).unwrap()[..], b"......");
        file.write(CHUNK_SIZE, Bytes::from_static(b"XY"))
            .await
            .unwrap();
        assert_eq!(&stream.blocking_read(6).await.unwrap()[..], b"XY....");
    }

    /// What `check-write` allowed, a write may carry: when the fork fills
    /// in between (another stream's write), the write fails with
    /// `insufficient-space` instead of trapping the guest.
    #[tokio::test]
    async fn a_write_within_check_write_fails_but_never_traps_when_the_fork_filled() {
        let limits = crate::fs::Limits {
            max_bytes: 1000,
            ..crate::fs::Limits::default()
        };
        let vfs = VfsBuilder::new().limits(limits).spawn();
        let fork = vfs.root();
        let root = fork.open_root().await.unwrap();
        let options = OpenOptions::new().write(true).create(true);
        let descriptor = |file| Descriptor {
            file: Arc::new(file),
            mode: OpenMode::READ | OpenMode::WRITE,
            perms: FsPerms::ReadWrite,
        };
        let a = descriptor(root.open_at("a", options).await.unwrap());
        let b = descriptor(root.open_at("b", options).await.unwrap());
        let (mut to_a, mut to_b) = (FileOutputStream::at(&a, 0), FileOutputStream::at(&b, 0));
        let allowed = to_a.check_write().unwrap();
        assert_eq!(allowed, 1000);
        assert_eq!(to_b.check_write().unwrap(), allowed);
        to_a.write(Bytes::from(vec![1; allowed])).unwrap();
        to_a.ready().await;
        assert_eq!(to_a.check_write().unwrap(), 1, "the fork is full");
        match to_b.write(Bytes::from(vec![2; allowed])) {
            Ok(()) => {
                to_b.ready().await;
                assert!(matches!(
                    to_b.check_write(),
                    Err(StreamError::LastOperationFailed(_))
                ));
            }
            Err(e) => panic!("a write check-write allowed must not trap: {e:?}"),
        }
    }
}
