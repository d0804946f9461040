//! The component model's own streams over open files: what
//! `read-via-stream`, `write-via-stream`, `append-via-stream` and
//! `read-directory` hand the guest.
//!
//! Each stream holds its own cursor and its own `Arc<OpenFile>`, so any
//! number of them move independently on one descriptor, and outlive it.
//! Readiness is the stream's own: a read is served from the published
//! snapshot straight into the guest's buffer when it can be (ready at
//! once, but for a yield now and then for tokio's budget, as every read
//! served at once); otherwise it becomes a read on the actor, and the stream stays
//! pending until that answers — on a slow backend, genuinely, while the
//! guest's other tasks and every other guest go on. A write stream takes
//! the guest's bytes and answers the write only once the actor has applied
//! them, so the guest's `write` returning means the data is in the
//! filesystem. Each stream's result future resolves when the stream ends:
//! `ok` at the end of the data (or when the guest drops it early), the
//! error code otherwise.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::oneshot;
use wasmtime::StoreContextMut;
use wasmtime::component::{
    Destination, Source, StreamConsumer, StreamProducer, StreamResult, VecBuffer,
};

use super::types::{DirectoryEntry, ErrorCode};
use crate::actor::{self, OpenFile};
use crate::fs::DirEntry;
use crate::wasi::error::p3_error_code;
use crate::wasi::stream::MAX_WRITE;

/// Where a stream's outcome goes: the future handed out next to it.
pub(super) type Outcome = oneshot::Sender<Result<(), ErrorCode>>;

/// How much a read asks for when the reader gives no size (a host reader).
const HOST_READ: usize = 64 << 10;

/// Entries a directory stream fetches per round.
const ENTRIES_PER_ROUND: usize = 128;

/// The most one read or write moves: `Limits::max_io`, and never more
/// than p2's streams move at once, even under `Limits::unlimited()`.
fn io_cap(file: &OpenFile) -> usize {
    file.limits().max_io.clamp(1, MAX_WRITE) as usize
}

/// The error code a guest sees for `e`; a trap cannot come out of a
/// filesystem call, so one would be a host bug, reported as `io`.
fn code(e: actor::Error) -> ErrorCode {
    p3_error_code(e).unwrap_or(ErrorCode::Io)
}

/// Sends `outcome` once: the first end of a stream is the one reported.
fn finish(result: &mut Option<Outcome>, outcome: Result<(), ErrorCode>) {
    if let Some(tx) = result.take() {
        let _ = tx.send(outcome);
    }
}

/// `read-via-stream`: the file's bytes from an offset, at the stream's own
/// cursor.
pub(super) struct ReadStream {
    file: Arc<OpenFile>,
    position: u64,
    /// Bytes read but not yet taken: the pieces of one read (a read that
    /// crosses chunks comes in several) that a host reader's buffer did
    /// not hold.
    buffered: VecDeque<Bytes>,
    /// A read not answered at once: waiting for the actor, or yielding
    /// the thread for tokio's budget.
    pending: Option<BoxFuture<'static, Result<Vec<Bytes>, actor::Error>>>,
    result: Option<Outcome>,
}

impl ReadStream {
    pub fn new(file: Arc<OpenFile>, offset: u64, result: Outcome) -> ReadStream {
        ReadStream {
            file,
            position: offset,
            buffered: VecDeque::new(),
            pending: None,
            result: Some(result),
        }
    }

    /// Reads up to `len` bytes at the cursor into `buffered`, as every read
    /// of an open file goes (`OpenFile::read`: on the published snapshot at
    /// once, counted against tokio's budget; on the actor when the snapshot
    /// cannot answer). `Ready(false)` at the end of the file.
    fn fill(&mut self, cx: &mut Context<'_>, len: u64) -> Poll<Result<bool, ErrorCode>> {
        let pending = self.pending.get_or_insert_with(|| {
            let (file, at) = (self.file.clone(), self.position);
            async move { file.read(at, len).await }.boxed()
        });
        let read = std::task::ready!(pending.poll_unpin(cx));
        self.pending = None;
        Poll::Ready(read.map(|pieces| self.accept(pieces)).map_err(code))
    }

    fn accept(&mut self, pieces: Vec<Bytes>) -> bool {
        self.buffered
            .extend(pieces.into_iter().filter(|p| !p.is_empty()));
        !self.buffered.is_empty()
    }
}

impl Drop for ReadStream {
    fn drop(&mut self) {
        finish(&mut self.result, Ok(()));
    }
}

impl<D: 'static> StreamProducer<D> for ReadStream {
    type Item = u8;
    type Buffer = VecBuffer<u8>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        dst: Destination<'a, u8, Self::Buffer>,
        cancel: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let this = self.get_mut();
        // A guest reader's buffer shrinks as it is written; a host reader's
        // (another host stream the guest piped this one into) does not.
        let (room, host) = match dst.remaining(&mut store) {
            Some(room) => (room, false),
            None => (HOST_READ, true),
        };
        if room == 0 {
            // A zero-length read asks whether data is ready: in memory it
            // is, and a slow read reports pending on the next real read.
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        if this.buffered.is_empty() {
            let want = room.min(io_cap(&this.file)) as u64;
            match this.fill(cx, want) {
                Poll::Pending if cancel => {
                    // Nothing was read: the guest may cancel. A read changes
                    // nothing, so the pending one is simply dropped.
                    this.pending = None;
                    return Poll::Ready(Ok(StreamResult::Cancelled));
                }
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(true)) => {}
                Poll::Ready(Ok(false)) => {
                    finish(&mut this.result, Ok(()));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
                Poll::Ready(Err(e)) => {
                    finish(&mut this.result, Err(e));
                    return Poll::Ready(Ok(StreamResult::Dropped));
                }
            }
        }
        let mut out = dst.as_direct(store, room);
        let mut written = 0;
        while let Some(front) = this.buffered.front_mut() {
            let space = &mut out.remaining()[if host { written } else { 0 }..];
            let n = space.len().min(front.len());
            if n == 0 {
                break;
            }
            space[..n].copy_from_slice(&front[..n]);
            out.mark_written(n);
            written += n;
            let _ = front.split_to(n);
            if front.is_empty() {
                this.buffered.pop_front();
            }
        }
        this.position += written as u64;
        Poll::Ready(Ok(StreamResult::Completed))
    }
}

/// Where a write stream puts its bytes.
#[derive(Clone, Copy, Debug)]
pub(super) enum WriteAt {
    /// At the stream's own cursor, starting here.
    Offset(u64),
    /// At the end of the file, whatever it is when each write lands.
    End,
}

/// `write-via-stream` and `append-via-stream`: the guest's bytes, applied
/// by the actor in order, each write answered once it is in the file.
pub(super) struct WriteStream {
    file: Arc<OpenFile>,
    at: WriteAt,
    /// The write on its way to the actor, and how many of the guest's
    /// bytes it carries: they count as read only once it has landed.
    pending: Option<(usize, BoxFuture<'static, Result<usize, actor::Error>>)>,
    result: Option<Outcome>,
}

impl WriteStream {
    pub fn new(file: Arc<OpenFile>, at: WriteAt, result: Outcome) -> WriteStream {
        WriteStream {
            file,
            at,
            pending: None,
            result: Some(result),
        }
    }
}

impl Drop for WriteStream {
    fn drop(&mut self) {
        // A guest cannot drop its end while a write is pending; with one in
        // flight this is the store going away, and no guest reads the
        // outcome (the write still lands: it was sent).
        finish(&mut self.result, Ok(()));
    }
}

impl<D: 'static> StreamConsumer<D> for WriteStream {
    type Item = u8;

    fn poll_consume(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<D>,
        src: Source<'_, u8>,
        _cancel: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let this = self.get_mut();
        let mut src = src.as_direct(store);
        if this.pending.is_none() {
            let data = src.remaining();
            let n = data.len().min(io_cap(&this.file));
            if n == 0 {
                return Poll::Ready(Ok(StreamResult::Completed));
            }
            let data = Bytes::copy_from_slice(&data[..n]);
            let file = this.file.clone();
            let write = match this.at {
                WriteAt::Offset(at) => async move { file.write(at, data).await }.boxed(),
                WriteAt::End => async move { file.append(data).await.map(|(_, n)| n) }.boxed(),
            };
            this.pending = Some((n, write));
        }
        // A write sent to the actor completes the guest's write when it has
        // landed, even if the guest asks to cancel meanwhile: until then the
        // guest's buffer stays as it was, and is marked read only after.
        let Some((n, pending)) = &mut this.pending else {
            return Poll::Ready(Ok(StreamResult::Completed));
        };
        let n = *n;
        let written = std::task::ready!(pending.poll_unpin(cx));
        this.pending = None;
        Poll::Ready(Ok(match written {
            Ok(k) => {
                // wasmtime presents the same write again until it settles;
                // if it ever did not, that is its bug: trap, never panic.
                let k = k.min(n);
                if src.remaining().len() < k {
                    return Poll::Ready(Err(wasmtime::format_err!(
                        "write stream: the guest's buffer changed under a write"
                    )));
                }
                src.mark_read(k);
                if let WriteAt::Offset(at) = &mut this.at {
                    *at = at.saturating_add(k as u64);
                }
                StreamResult::Completed
            }
            Err(e) => {
                finish(&mut this.result, Err(code(e)));
                StreamResult::Dropped
            }
        }))
    }
}

/// `read-directory`: the directory's entries, fetched in rounds, each
/// resumed after the last name returned (stable while entries come and
/// go, as `fs::Reader::read_dir` is).
pub(super) struct DirectoryStream {
    dir: Arc<OpenFile>,
    after: Option<String>,
    pending: Option<BoxFuture<'static, Result<Vec<DirEntry>, actor::Error>>>,
    result: Option<Outcome>,
}

impl DirectoryStream {
    pub fn new(dir: Arc<OpenFile>, result: Outcome) -> DirectoryStream {
        DirectoryStream {
            dir,
            after: None,
            pending: None,
            result: Some(result),
        }
    }
}

impl Drop for DirectoryStream {
    fn drop(&mut self) {
        finish(&mut self.result, Ok(()));
    }
}

impl<D: 'static> StreamProducer<D> for DirectoryStream {
    type Item = DirectoryEntry;
    type Buffer = VecBuffer<DirectoryEntry>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, DirectoryEntry, Self::Buffer>,
        cancel: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let this = self.get_mut();
        if dst.remaining(&mut store) == Some(0) {
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        let pending = this.pending.get_or_insert_with(|| {
            let (dir, after) = (this.dir.clone(), this.after.clone());
            async move { dir.read_dir(after.as_deref(), ENTRIES_PER_ROUND).await }.boxed()
        });
        let entries = match pending.poll_unpin(cx) {
            Poll::Pending if cancel => {
                this.pending = None;
                return Poll::Ready(Ok(StreamResult::Cancelled));
            }
            Poll::Pending => return Poll::Pending,
            Poll::Ready(entries) => entries,
        };
        this.pending = None;
        let entries = match entries {
            Ok(entries) if entries.is_empty() => {
                finish(&mut this.result, Ok(()));
                return Poll::Ready(Ok(StreamResult::Dropped));
            }
            Ok(entries) => entries,
            Err(e) => {
                finish(&mut this.result, Err(code(e)));
                return Poll::Ready(Ok(StreamResult::Dropped));
            }
        };
        this.after = entries.last().map(|e| e.name.to_string());
        let entries: Vec<DirectoryEntry> = entries
            .into_iter()
            .map(|e| DirectoryEntry {
                type_: super::host::descriptor_type(e.kind),
                name: e.name.to_string(),
            })
            .collect();
        // More than the guest reads now waits in the buffer for its next
        // reads (`poll_produce` is called again only once it is empty).
        dst.set_buffer(VecBuffer::from(entries));
        Poll::Ready(Ok(StreamResult::Completed))
    }
}
