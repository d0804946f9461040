//! Guest memory: the buffers a call names, and how much it may copy.
//!
//! Every length here comes from the guest. Before the host allocates or
//! copies for one, it is charged to the call's *allowance* — wasmtime's
//! per-call "hostcall fuel", which the store sets before each call — and
//! file data is also cut at `Limits::max_io`. Going past the allowance with
//! metadata (an iovec array, a path, a subscription list) is `ENOMEM`, as
//! in wasmtime-wasi; a data buffer larger than what may be copied is not an
//! error but a short read or write, which every POSIX caller handles.

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::p1::types::{CiovecArray, Errno, IovecArray};
use wiggle::{GuestMemory, GuestPtr, GuestType};

use super::errno::P1Result;

/// What the current call may still copy, in bytes.
pub(super) struct Allowance<'a>(pub &'a mut usize);

impl Allowance<'_> {
    /// Charges `bytes`, or fails with `ENOMEM` past the allowance.
    pub fn spend(&mut self, bytes: u64) -> P1Result<()> {
        let bytes = usize::try_from(bytes).map_err(|_| Errno::Nomem)?;
        *self.0 = self.0.checked_sub(bytes).ok_or(Errno::Nomem)?;
        Ok(())
    }

    /// Charges for an array of `len` guest values of type `T`.
    pub fn spend_array<T: GuestType>(&mut self, len: u32) -> P1Result<()> {
        self.spend(u64::from(len) * u64::from(T::guest_size()))
    }

    /// Charges for up to `wanted` data bytes and returns how many may move:
    /// fewer when the allowance is short, `ENOMEM` only when nothing may.
    pub fn take_data(&mut self, wanted: u64) -> P1Result<u64> {
        let granted = wanted.min(u64::try_from(*self.0).unwrap_or(u64::MAX));
        if granted == 0 && wanted > 0 {
            return Err(Errno::Nomem.into());
        }
        self.spend(granted)?;
        Ok(granted)
    }

    /// Copies the guest string `path` into the host.
    pub fn string(&mut self, mem: &GuestMemory<'_>, path: GuestPtr<str>) -> P1Result<String> {
        self.spend(u64::from(path.len()))?;
        Ok(mem.as_cow_str(path)?.into_owned())
    }
}

/// The non-empty buffers of an iovec array, in order: where a vectored
/// read lands or a vectored write comes from.
pub(super) struct Buffers {
    parts: Vec<GuestBuf>,
}

impl Buffers {
    /// The buffers of a read's iovec array (charged to `allowance`).
    pub fn to_fill(
        mem: &GuestMemory<'_>,
        iovs: IovecArray,
        allowance: &mut Allowance<'_>,
    ) -> P1Result<Buffers> {
        allowance.spend_array::<wasmtime_wasi::p1::types::Iovec>(iovs.len())?;
        let mut parts = Vec::new();
        for slot in iovs.iter() {
            let iov = mem.read(slot?)?;
            if iov.buf_len > 0 {
                parts.push(iov.buf.as_array(iov.buf_len));
            }
        }
        Ok(Buffers { parts })
    }

    /// The buffers of a write's ciovec array (charged to `allowance`).
    pub fn to_drain(
        mem: &GuestMemory<'_>,
        ciovs: CiovecArray,
        allowance: &mut Allowance<'_>,
    ) -> P1Result<Buffers> {
        allowance.spend_array::<wasmtime_wasi::p1::types::Ciovec>(ciovs.len())?;
        let mut parts = Vec::new();
        for slot in ciovs.iter() {
            let iov = mem.read(slot?)?;
            if iov.buf_len > 0 {
                parts.push(iov.buf.as_array(iov.buf_len));
            }
        }
        Ok(Buffers { parts })
    }

    /// Their combined length.
    pub fn total(&self) -> u64 {
        self.parts.iter().map(|p| u64::from(p.len())).sum()
    }

    /// Copies `pieces` (at most [`Buffers::total`] bytes) into the buffers
    /// in order: the one copy between the file's chunks and the guest.
    /// Returns the count copied.
    pub fn fill(&self, mem: &mut GuestMemory<'_>, pieces: &[Bytes]) -> P1Result<u32> {
        let mut parts = self.parts.iter().copied();
        let mut room = parts.next();
        let mut copied = 0u32;
        for piece in pieces {
            let mut rest = &piece[..];
            while !rest.is_empty() {
                let Some(dest) = room else {
                    return Ok(copied); // more data than buffers: keep what fits
                };
                let n = dest
                    .len()
                    .min(u32::try_from(rest.len()).unwrap_or(u32::MAX));
                let (head, tail) = split(dest, n)?;
                mem.copy_from_slice(&rest[..n as usize], head)?;
                rest = &rest[n as usize..];
                copied = copied.checked_add(n).ok_or(Errno::Overflow)?;
                room = if tail.len() > 0 {
                    Some(tail)
                } else {
                    parts.next()
                };
            }
        }
        Ok(copied)
    }

    /// Gathers up to `max` bytes from the buffers into one host buffer —
    /// the one copy of a write — without ever holding more than `max`.
    pub fn gather(&self, mem: &GuestMemory<'_>, max: u64) -> P1Result<Bytes> {
        self.gather_from(mem, 0, max)
    }

    /// Up to `max` bytes of the buffers, after their first `skip` bytes,
    /// copied into one host buffer.
    pub fn gather_from(&self, mem: &GuestMemory<'_>, skip: u64, max: u64) -> P1Result<Bytes> {
        let available = self.total().saturating_sub(skip);
        let size = usize::try_from(available.min(max)).map_err(|_| Errno::Nomem)?;
        let mut out = BytesMut::with_capacity(size);
        let mut skip = skip;
        for part in &self.parts {
            let room = size - out.len();
            if room == 0 {
                break;
            }
            let part = match u32::try_from(skip) {
                Ok(s) if s >= part.len() => {
                    skip -= u64::from(part.len());
                    continue;
                }
                Ok(s) => {
                    skip = 0;
                    split(*part, s)?.1
                }
                Err(_) => {
                    skip -= u64::from(part.len());
                    continue;
                }
            };
            let n = part.len().min(u32::try_from(room).unwrap_or(u32::MAX));
            let (head, _) = split(part, n)?;
            out.extend_from_slice(&mem.as_cow(head)?);
        }
        Ok(out.freeze())
    }
}

/// A guest byte buffer.
type GuestBuf = GuestPtr<[u8]>;

/// `buf` cut at `at` (which must not exceed its length).
fn split(buf: GuestBuf, at: u32) -> P1Result<(GuestBuf, GuestBuf)> {
    let head = buf.get_range(0..at).ok_or(Errno::Fault)?;
    let tail = buf.get_range(at..buf.len()).ok_or(Errno::Fault)?;
    Ok((head, tail))
}

/// Writes `bytes` at `at` in guest memory; returns the address after them.
pub(super) fn put(
    mem: &mut GuestMemory<'_>,
    at: GuestPtr<u8>,
    bytes: &[u8],
) -> P1Result<GuestPtr<u8>> {
    let len = u32::try_from(bytes.len())?;
    mem.copy_from_slice(bytes, at.as_array(len))?;
    Ok(at.add(len)?)
}
