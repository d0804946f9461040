//! File contents as copy-on-write chunks of [`Bytes`].
//!
//! A file is a sparse map from chunk index to a chunk of at most
//! [`CHUNK_SIZE`] bytes. A chunk shorter than its span reads as zeros past
//! its end; a missing chunk is a hole (zeros, nothing allocated) or, for a
//! file copied up from the base, the base's chunk. Chunks are immutable
//! `Bytes`: reads hand out slices of them without copying, and a write
//! builds one new chunk while every other chunk stays shared with the forks
//! and snapshots that still hold the old version.

use bytes::{Bytes, BytesMut};
use imbl::OrdMap;

use std::sync::Arc;

use super::base::Base;
use super::error::{Errno, Result};
use super::meter::Meter;
use super::node::Ino;

/// Bytes per chunk: the unit of copy-on-write and of base fetches.
pub const CHUNK_SIZE: u64 = 64 * 1024;

/// Zeros to hand out for holes without allocating.
static ZEROS: [u8; CHUNK_SIZE as usize] = [0; CHUNK_SIZE as usize];

/// A file's size and chunks.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileData {
    size: u64,
    chunks: OrdMap<u64, Bytes>,
    /// Bytes below this offset that no chunk covers come from the base file
    /// with the same inode number. Truncation lowers it so that data cut off
    /// never reappears when the file grows again.
    lower_len: u64,
    /// Sum of the chunk lengths: what this file costs its fork.
    allocated: u64,
}

/// Where the bytes of one chunk come from.
enum Source {
    Upper(Bytes),
    Lower { len: u64 },
    Hole,
}

impl FileData {
    /// A file whose bytes all still live in the base.
    pub fn lower(size: u64) -> FileData {
        FileData {
            size,
            lower_len: size,
            ..FileData::default()
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// Whether two versions of file `ino` read the same. Cheap when they
    /// share chunks: only chunks that differ in identity are compared.
    pub fn same_bytes(&self, other: &FileData, ino: Ino, base: &dyn Base) -> Result<bool> {
        if self.size != other.size {
            return Ok(false);
        }
        if self.chunks.ptr_eq(&other.chunks) && self.lower_len == other.lower_len {
            return Ok(true);
        }
        // Chunks stored on either side, plus the range where one side still
        // reads the base and the other does not.
        let mut candidates: Vec<u64> = self
            .chunks
            .diff(&other.chunks)
            .map(|item| match item {
                imbl::ordmap::DiffItem::Add(i, _) | imbl::ordmap::DiffItem::Remove(i, _) => *i,
                imbl::ordmap::DiffItem::Update { new: (i, _), .. } => *i,
            })
            .collect();
        let (lo, hi) = (
            self.lower_len.min(other.lower_len),
            self.lower_len.max(other.lower_len),
        );
        if lo < hi {
            candidates.extend(lo / CHUNK_SIZE..hi.div_ceil(CHUNK_SIZE));
        }
        candidates.sort_unstable();
        candidates.dedup();
        let (mut mine, mut theirs) = (Vec::new(), Vec::new());
        for index in candidates {
            let start = index * CHUNK_SIZE;
            mine.clear();
            theirs.clear();
            self.read(ino, base, start, CHUNK_SIZE, &mut mine)?;
            other.read(ino, base, start, CHUNK_SIZE, &mut theirs)?;
            if mine.concat() != theirs.concat() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn source(&self, index: u64) -> Source {
        if let Some(chunk) = self.chunks.get(&index) {
            return Source::Upper(chunk.clone());
        }
        let start = index * CHUNK_SIZE;
        if start < self.lower_len {
            Source::Lower {
                len: (self.lower_len - start).min(CHUNK_SIZE),
            }
        } else {
            Source::Hole
        }
    }

    /// The stored bytes of chunk `index` (zeros past their end).
    fn chunk(&self, ino: Ino, base: &dyn Base, index: u64) -> Result<Bytes> {
        Ok(match self.source(index) {
            Source::Upper(bytes) => bytes,
            Source::Lower { len } => {
                // A base that delivers less than the file's size promised
                // (a host file truncated under it) is broken: an error, not
                // bytes made up.
                let chunk = base.chunk(ino, index)?;
                if (chunk.len() as u64) < len {
                    return Err(Errno::Io.into());
                }
                chunk.slice(..len as usize)
            }
            Source::Hole => Bytes::new(),
        })
    }

    /// Appends to `out` the bytes in `[offset, offset + len)`, cut at the end
    /// of the file, as slices of the stored chunks (holes as static zeros).
    /// Returns the number of bytes produced.
    pub fn read(
        &self,
        ino: Ino,
        base: &dyn Base,
        offset: u64,
        len: u64,
        out: &mut Vec<Bytes>,
    ) -> Result<u64> {
        let end = offset.saturating_add(len).min(self.size);
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK_SIZE;
            let chunk_start = index * CHUNK_SIZE;
            let piece_end = end.min(chunk_start + CHUNK_SIZE);
            let (from, to) = (
                (pos - chunk_start) as usize,
                (piece_end - chunk_start) as usize,
            );
            let stored = self.chunk(ino, base, index)?;
            if from < stored.len() {
                out.push(stored.slice(from..to.min(stored.len())));
            }
            if to > stored.len() {
                let zeros = to - from.max(stored.len());
                out.push(Bytes::from_static(&ZEROS[..zeros]));
            }
            pos = piece_end;
        }
        Ok(end.saturating_sub(offset))
    }

    /// What writing (or zeroing) `[offset, end)` would cost, computed
    /// without touching any data so limits can be checked before anything
    /// is allocated: how many more bytes the file would hold, and how many
    /// new bytes of chunks it builds (the chunks it replaces may live on in
    /// other forks and snapshots).
    pub fn cost(&self, offset: u64, end: u64, zeroing: bool) -> Cost {
        let mut growth = 0i64;
        let mut fresh = 0u64;
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK_SIZE;
            let chunk_start = index * CHUNK_SIZE;
            let to = end.min(chunk_start + CHUNK_SIZE) - chunk_start;
            let from = pos - chunk_start;
            let (old_upper, old_len, lower) = match self.source(index) {
                Source::Upper(b) => (b.len() as u64, b.len() as u64, false),
                Source::Lower { len } => (0, len, true),
                Source::Hole => (0, 0, false),
            };
            let new_len = if zeroing {
                zeroed_len(from, to, old_len)
            } else {
                old_len.max(to)
            };
            growth += new_len as i64 - old_upper as i64;
            // Zeros cut a chunk of the file's own short, or leave it alone,
            // without copying; zeros inside the stored bytes copy it, and so
            // does cutting a base chunk short (see `write_zeroes`).
            if !zeroing || (from < old_len && (to < old_len || lower)) {
                fresh += new_len;
            }
            pos = chunk_start + to;
        }
        Cost { growth, fresh }
    }

    /// Writes `data` at `offset`, growing the file as needed. Each touched
    /// chunk is rebuilt once; untouched chunks stay shared.
    pub fn write(
        &mut self,
        ino: Ino,
        base: &dyn Base,
        meter: &Arc<Meter>,
        offset: u64,
        data: &Bytes,
    ) -> Result<()> {
        let end = offset + data.len() as u64;
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK_SIZE;
            let chunk_start = index * CHUNK_SIZE;
            let to = (end.min(chunk_start + CHUNK_SIZE) - chunk_start) as usize;
            let from = (pos - chunk_start) as usize;
            let piece = &data[(pos - offset) as usize..(chunk_start + to as u64 - offset) as usize];
            let source = self.source(index);
            let old_len = match &source {
                Source::Upper(b) => b.len(),
                Source::Lower { len } => *len as usize,
                Source::Hole => 0,
            };
            if from == 0 && to >= old_len && piece.len() == data.len() {
                // The whole write becomes the whole chunk: keep its buffer
                // instead of copying it (and pin no more than the chunk).
                self.put(index, meter.chunk(data.clone()));
                pos = chunk_start + to as u64;
                continue;
            }
            // Only fetch the old bytes when some of them survive the write.
            let old = if from > 0 || to < old_len {
                self.chunk(ino, base, index)?
            } else {
                Bytes::new()
            };
            let mut chunk = BytesMut::with_capacity(old_len.max(to));
            chunk.extend_from_slice(&old[..from.min(old.len())]);
            chunk.resize(from, 0);
            chunk.extend_from_slice(piece);
            if to < old.len() {
                chunk.extend_from_slice(&old[to..]);
            }
            chunk.resize(old_len.max(to), 0);
            self.put(index, meter.chunk(chunk.freeze()));
            pos = chunk_start + to as u64;
        }
        self.size = self.size.max(end);
        Ok(())
    }

    /// Makes `[offset, offset + len)` read as zeros, growing the file as
    /// needed. Whole chunks become empty (no allocation); partial chunks are
    /// cut short when the zeros reach their end, and copied only otherwise.
    pub fn write_zeroes(
        &mut self,
        ino: Ino,
        base: &dyn Base,
        meter: &Arc<Meter>,
        offset: u64,
        len: u64,
    ) -> Result<()> {
        let end = offset + len;
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK_SIZE;
            let chunk_start = index * CHUNK_SIZE;
            let to = (end.min(chunk_start + CHUNK_SIZE) - chunk_start) as usize;
            let from = (pos - chunk_start) as usize;
            let (old_len, lower) = match self.source(index) {
                Source::Upper(b) => (b.len(), false),
                Source::Lower { len } => (len as usize, true),
                // Zeros over a hole past the base data change nothing.
                Source::Hole => (0, false),
            };
            if from < old_len {
                let old = self.chunk(ino, base, index)?;
                let new = if to >= old_len && lower {
                    // The file's own copy, counted: a slice would keep the
                    // base's chunk alive, counted nowhere.
                    meter.chunk(Bytes::copy_from_slice(&old[..from]))
                } else if to >= old_len {
                    old.slice(..from)
                } else {
                    let mut chunk = BytesMut::from(&old[..]);
                    chunk[from..to].fill(0);
                    meter.chunk(chunk.freeze())
                };
                self.put(index, new);
            }
            pos = chunk_start + to as u64;
        }
        self.size = self.size.max(end);
        Ok(())
    }

    /// Truncates or extends the file. Growing allocates nothing; shrinking
    /// drops whole chunks and slices the last one without copying.
    pub fn set_size(&mut self, size: u64) {
        if size < self.size {
            let first_gone = size.div_ceil(CHUNK_SIZE);
            let gone: Vec<u64> = self.chunks.range(first_gone..).map(|(i, _)| *i).collect();
            for index in gone {
                if let Some(chunk) = self.chunks.remove(&index) {
                    self.allocated -= chunk.len() as u64;
                }
            }
            let boundary = size / CHUNK_SIZE;
            let keep = (size - boundary * CHUNK_SIZE) as usize;
            if let Some(chunk) = self.chunks.get(&boundary)
                && chunk.len() > keep
            {
                let cut = chunk.slice(..keep);
                self.put(boundary, cut);
            }
            self.lower_len = self.lower_len.min(size);
        }
        self.size = size;
    }

    fn put(&mut self, index: u64, chunk: Bytes) {
        self.allocated += chunk.len() as u64;
        if let Some(old) = self.chunks.insert(index, chunk) {
            self.allocated -= old.len() as u64;
        }
    }

    /// The stored chunks, for tests that check sharing between versions.
    #[cfg(test)]
    pub fn chunk_ptrs(&self) -> Vec<(u64, *const u8)> {
        self.chunks.iter().map(|(i, b)| (*i, b.as_ptr())).collect()
    }
}

/// `data` from `from` on, to hand to a write. A write that is one chunk or
/// less keeps its buffer as the chunk (see [`FileData::write`]): a small
/// rest of a large buffer is copied out, so that the file does not keep
/// all of it alive.
pub(crate) fn rest_of(data: &Bytes, from: usize) -> Bytes {
    if from > 0 && data.len() - from <= CHUNK_SIZE as usize {
        Bytes::copy_from_slice(&data[from..])
    } else {
        data.slice(from..)
    }
}

/// What a write costs (see [`FileData::cost`]).
pub(crate) struct Cost {
    /// Bytes the file holds more afterwards (fewer, if negative).
    pub growth: i64,
    /// Bytes of new chunks it builds.
    pub fresh: u64,
}

/// The stored length of a chunk of `old_len` bytes after zeroing `[from, to)`.
fn zeroed_len(from: u64, to: u64, old_len: u64) -> u64 {
    if from >= old_len {
        old_len
    } else if to >= old_len {
        from
    } else {
        old_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::base::MemBase;

    thread_local! {
        static METER: Arc<Meter> = Arc::new(Meter::default());
    }

    fn meter() -> Arc<Meter> {
        METER.with(Arc::clone)
    }

    fn read_all(f: &FileData, offset: u64, len: u64) -> Vec<u8> {
        let base = MemBase::empty();
        let mut out = Vec::new();
        f.read(Ino(9), &base, offset, len, &mut out).unwrap();
        out.concat()
    }

    fn write(f: &mut FileData, offset: u64, data: &[u8]) {
        let cost = f.cost(offset, offset + data.len() as u64, false);
        let before = f.allocated() as i64;
        let held = meter().held().bytes;
        let data = Bytes::copy_from_slice(data);
        f.write(Ino(9), &MemBase::empty(), &meter(), offset, &data)
            .unwrap();
        assert_eq!(
            f.allocated() as i64,
            before + cost.growth,
            "growth prediction"
        );
        // Every chunk the write built counts, and none it replaced went yet
        // where an older version of the file still holds it.
        assert!(
            meter().held().bytes <= held + cost.fresh,
            "fresh bytes prediction"
        );
    }

    #[test]
    fn a_write_that_is_a_whole_chunk_keeps_its_buffer_and_a_partial_one_copies() {
        let mut f = FileData::default();
        let base = MemBase::empty();
        let whole = Bytes::from(vec![1u8; 4096]);
        f.write(Ino(9), &base, &meter(), 0, &whole).unwrap();
        assert_eq!(f.chunk_ptrs(), vec![(0, whole.as_ptr())]);
        // Over what is there now, from the start: the old bytes all go.
        let again = Bytes::from(vec![2u8; 4096]);
        f.write(Ino(9), &base, &meter(), 0, &again).unwrap();
        assert_eq!(f.chunk_ptrs(), vec![(0, again.as_ptr())]);
        // Part of the chunk survives: merged into a new buffer.
        let part = Bytes::from(vec![3u8; 100]);
        f.write(Ino(9), &base, &meter(), 10, &part).unwrap();
        assert_ne!(f.chunk_ptrs()[0].1, part.as_ptr());
        assert_ne!(f.chunk_ptrs()[0].1, again.as_ptr());
        let mut expected = vec![2u8; 4096];
        expected[10..110].fill(3);
        assert_eq!(read_all(&f, 0, 4096), expected);
        // A write spanning two chunks is copied (no chunk pins the other's bytes).
        let span = Bytes::from(vec![4u8; CHUNK_SIZE as usize]);
        f.write(Ino(9), &base, &meter(), CHUNK_SIZE / 2, &span)
            .unwrap();
        assert!(f.chunk_ptrs().iter().all(|&(_, p)| p != span.as_ptr()));
    }

    #[test]
    fn sparse_write_reads_zeros_in_the_hole_and_allocates_only_touched_chunks() {
        let mut f = FileData::default();
        write(&mut f, 3 * CHUNK_SIZE + 10, b"abc");
        assert_eq!(f.size(), 3 * CHUNK_SIZE + 13);
        assert_eq!(f.allocated(), 13);
        let bytes = read_all(&f, 0, u64::MAX);
        assert_eq!(bytes.len() as u64, f.size());
        assert!(
            bytes[..(3 * CHUNK_SIZE + 10) as usize]
                .iter()
                .all(|&b| b == 0)
        );
        assert_eq!(&bytes[(3 * CHUNK_SIZE + 10) as usize..], b"abc");
    }

    #[test]
    fn write_across_chunk_boundary() {
        let mut f = FileData::default();
        let data: Vec<u8> = (0..CHUNK_SIZE + 100).map(|i| i as u8).collect();
        write(&mut f, CHUNK_SIZE - 50, &data);
        assert_eq!(read_all(&f, CHUNK_SIZE - 50, data.len() as u64), data);
        write(&mut f, CHUNK_SIZE - 1, b"XY");
        let got = read_all(&f, CHUNK_SIZE - 2, 4);
        assert_eq!(got, [data[48], b'X', b'Y', data[51]]);
    }

    #[test]
    fn truncate_then_extend_reads_zeros() {
        let mut f = FileData::default();
        write(&mut f, 0, &[7u8; 100]);
        f.set_size(10);
        f.set_size(50);
        let got = read_all(&f, 0, 100);
        assert_eq!(&got[..10], &[7u8; 10]);
        assert!(got[10..].iter().all(|&b| b == 0));
        assert_eq!(got.len(), 50);
        assert_eq!(f.allocated(), 10);
    }

    #[test]
    fn zeroing_cuts_chunk_tails_and_empties_whole_chunks() {
        let mut f = FileData::default();
        write(&mut f, 0, &[1u8; (2 * CHUNK_SIZE) as usize]);
        let cost = f.cost(100, 2 * CHUNK_SIZE, true);
        f.write_zeroes(
            Ino(9),
            &MemBase::empty(),
            &meter(),
            100,
            2 * CHUNK_SIZE - 100,
        )
        .unwrap();
        assert_eq!(f.allocated(), 100);
        assert_eq!(cost.growth, 100 - 2 * CHUNK_SIZE as i64);
        assert_eq!(cost.fresh, 0, "cutting chunks short copies nothing");
        let got = read_all(&f, 0, u64::MAX);
        assert_eq!(got.len() as u64, 2 * CHUNK_SIZE);
        assert!(got[..100].iter().all(|&b| b == 1));
        assert!(got[100..].iter().all(|&b| b == 0));
        // Zeroing the middle of a chunk keeps both ends.
        write(&mut f, 0, &[2u8; 30]);
        assert_eq!(
            f.cost(10, 20, true).fresh,
            100,
            "zeros inside a chunk copy it (100 bytes stored)"
        );
        f.write_zeroes(Ino(9), &MemBase::empty(), &meter(), 10, 10)
            .unwrap();
        let got = read_all(&f, 0, 30);
        assert_eq!(&got[..10], &[2u8; 10]);
        assert_eq!(&got[10..20], &[0u8; 10]);
        assert_eq!(&got[20..], &[2u8; 10]);
    }

    #[test]
    fn one_byte_write_into_a_64_mib_file_copies_one_chunk() {
        let mut f = FileData::default();
        let block = vec![0xA5u8; CHUNK_SIZE as usize];
        for i in 0..1024 {
            write(&mut f, i * CHUNK_SIZE, &block);
        }
        let before = f.chunk_ptrs();
        let snapshot = f.clone();
        write(&mut f, 5 * CHUNK_SIZE + 7, b"!");
        let after = f.chunk_ptrs();
        let changed: Vec<u64> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.0)
            .collect();
        assert_eq!(changed, vec![5], "only the written chunk is new");
        assert_eq!(f.allocated(), snapshot.allocated());
        assert_eq!(read_all(&snapshot, 5 * CHUNK_SIZE + 7, 1), [0xA5]);
        assert_eq!(read_all(&f, 5 * CHUNK_SIZE + 7, 1), *b"!");
    }

    #[test]
    fn the_meter_counts_each_live_chunk_once_until_its_last_holder_goes() {
        let meter = Arc::new(Meter::default());
        let base = MemBase::empty();
        let mut f = FileData::default();
        let data = Bytes::from(vec![1u8; 3 * CHUNK_SIZE as usize]);
        f.write(Ino(9), &base, &meter, 0, &data).unwrap();
        assert_eq!(meter.held().bytes, 3 * CHUNK_SIZE);
        // A copy of the file (another fork, a snapshot) shares the chunks.
        let shared = f.clone();
        assert_eq!(meter.held().bytes, 3 * CHUNK_SIZE);
        // A one-byte write builds one new chunk; the old one lives on in the copy.
        f.write(Ino(9), &base, &meter, 5, &Bytes::from_static(b"!"))
            .unwrap();
        assert_eq!(meter.held().bytes, 4 * CHUNK_SIZE);
        drop(shared);
        assert_eq!(meter.held().bytes, 3 * CHUNK_SIZE);
        // A slice a reader still holds keeps its whole chunk counted.
        let mut out = Vec::new();
        f.read(Ino(9), &base, 0, 10, &mut out).unwrap();
        f.set_size(0);
        assert_eq!(meter.held().bytes, CHUNK_SIZE);
        drop(out);
        assert_eq!(meter.held().bytes, 0);
    }
}
