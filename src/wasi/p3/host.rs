//! The `wasi:filesystem@0.3.0` descriptor methods over Strata's
//! [`Descriptor`], the one p2 and p1 use: each takes the descriptor out of
//! the resource table, asks it, and translates 0.3's types.

use std::sync::Arc;

use tokio::sync::oneshot;
use wasmtime::component::{Access, Accessor, FutureReader, HasData, Resource, StreamReader};
use wasmtime_wasi::p3::bindings::clocks::system_clock::Instant;

use super::preopens;
use super::streams::{DirectoryStream, ReadStream, WriteAt, WriteStream};
use super::types::{
    self, Advice, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry, ErrorCode,
    Filesize, MetadataHashValue, NewTimestamp, OpenFlags, PathFlags,
};
use crate::fs::{self, Kind, SetTime, Stat, Timestamp};
use crate::wasi::ctx::StrataCtxView;
use crate::wasi::descriptor::{self, OpenOptions};
use crate::wasi::error::p3_error_code;
use crate::wasi::{Descriptor, FsError, FsResult};

/// `HasData` for Strata's p3 filesystem interfaces.
pub(crate) struct StrataP3;

impl HasData for StrataP3 {
    type Data<'a> = StrataCtxView<'a>;
}

/// Takes descriptors out of the table: an accessor's store must not be
/// held across an `.await`, and a `Descriptor` is a few reference counts.
trait Descriptors {
    fn descriptor(&self, fd: &Resource<Descriptor>) -> FsResult<Descriptor>;
}

impl<U> Descriptors for Accessor<U, StrataP3> {
    fn descriptor(&self, fd: &Resource<Descriptor>) -> FsResult<Descriptor> {
        self.with(|mut store| Ok(store.get().table.get(fd)?.clone()))
    }
}

pub(super) fn descriptor_type(kind: Kind) -> DescriptorType {
    match kind {
        Kind::File => DescriptorType::RegularFile,
        Kind::Dir => DescriptorType::Directory,
        Kind::Symlink => DescriptorType::SymbolicLink,
    }
}

fn instant(t: Timestamp) -> Instant {
    Instant {
        // Seconds since the epoch fit an i64 for 292 billion years.
        seconds: i64::try_from(t.seconds).unwrap_or(i64::MAX),
        nanoseconds: t.nanoseconds,
    }
}

fn stat(s: Stat) -> DescriptorStat {
    DescriptorStat {
        type_: descriptor_type(s.kind),
        link_count: s.nlink,
        size: s.size,
        data_access_timestamp: Some(instant(s.atime)),
        data_modification_timestamp: Some(instant(s.mtime)),
        status_change_timestamp: Some(instant(s.ctime)),
    }
}

/// A time to set. Times before 1970 cannot be stored: `invalid`.
fn new_time(t: NewTimestamp) -> FsResult<SetTime> {
    Ok(match t {
        NewTimestamp::NoChange => SetTime::Keep,
        NewTimestamp::Now => SetTime::Now,
        NewTimestamp::Timestamp(t) => {
            let seconds = u64::try_from(t.seconds).map_err(|_| fs::Errno::Invalid)?;
            let seconds = seconds
                .checked_add(u64::from(t.nanoseconds / 1_000_000_000))
                .ok_or(fs::Errno::Overflow)?;
            let at = Timestamp::new(seconds, t.nanoseconds % 1_000_000_000);
            SetTime::At(at.ok_or(fs::Errno::Overflow)?)
        }
    })
}

fn follows(flags: PathFlags) -> bool {
    flags.contains(PathFlags::SYMLINK_FOLLOW)
}

/// `metadata-hash`: the same identity p2 reports.
fn hash(d: &Descriptor, ino: fs::Ino) -> MetadataHashValue {
    let value = descriptor::metadata_hash(&d.file, ino);
    MetadataHashValue {
        lower: value.lower,
        upper: value.upper,
    }
}

/// A stream's outcome future, already failed with `e`.
fn failed(e: FsError) -> wasmtime::Result<Result<(), ErrorCode>> {
    Ok(Err(p3_error_code(e)?))
}

impl types::Host for StrataCtxView<'_> {
    fn convert_error_code(&mut self, error: FsError) -> wasmtime::Result<ErrorCode> {
        p3_error_code(error)
    }
}

impl types::HostDescriptor for StrataCtxView<'_> {
    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        // Streams hold their own `Arc<OpenFile>`: the file stays open for
        // them after the descriptor goes.
        self.table.delete(fd)?;
        Ok(())
    }
}

impl preopens::Host for StrataCtxView<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        self.preopened()
    }
}

impl<U> types::HostDescriptorWithStore<U> for StrataP3 {
    fn read_via_stream(
        mut store: Access<U, Self>,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> wasmtime::Result<(StreamReader<u8>, FutureReader<Result<(), ErrorCode>>)> {
        let file = store
            .get()
            .table
            .get(&fd)
            .map_err(FsError::from)
            .and_then(|d| match d.is_dir() {
                true => Err(crate::wasi::ErrorCode::IsDirectory.into()),
                false => Ok(d.readable_file()?.file.clone()),
            });
        let (tx, rx) = oneshot::channel();
        match file {
            Ok(file) => Ok((
                StreamReader::new(&mut store, ReadStream::new(file, offset, tx))?,
                FutureReader::new(&mut store, rx)?,
            )),
            Err(e) => {
                let outcome = failed(e)?;
                Ok((
                    StreamReader::new(&mut store, std::iter::empty())?,
                    FutureReader::new(
                        &mut store,
                        async move { Ok::<_, wasmtime::Error>(outcome) },
                    )?,
                ))
            }
        }
    }

    fn write_via_stream(
        store: Access<'_, U, Self>,
        fd: Resource<Descriptor>,
        data: StreamReader<u8>,
        offset: Filesize,
    ) -> wasmtime::Result<FutureReader<Result<(), ErrorCode>>> {
        write_stream(store, fd, data, WriteAt::Offset(offset))
    }

    fn append_via_stream(
        store: Access<'_, U, Self>,
        fd: Resource<Descriptor>,
        data: StreamReader<u8>,
    ) -> wasmtime::Result<FutureReader<Result<(), ErrorCode>>> {
        write_stream(store, fd, data, WriteAt::End)
    }

    async fn advise(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        _offset: Filesize,
        _length: Filesize,
        _advice: Advice,
    ) -> FsResult<()> {
        // Everything is in memory already: advice changes nothing.
        store.descriptor(&fd)?.file()?;
        Ok(())
    }

    async fn sync_data(store: &Accessor<U, Self>, fd: Resource<Descriptor>) -> FsResult<()> {
        store.descriptor(&fd)?.sync().await
    }

    async fn get_flags(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
    ) -> FsResult<DescriptorFlags> {
        let d = store.descriptor(&fd)?;
        let mut flags = DescriptorFlags::empty();
        if d.can_read() {
            flags |= DescriptorFlags::READ;
        }
        if d.can_write() {
            flags |= if d.is_dir() {
                DescriptorFlags::MUTATE_DIRECTORY
            } else {
                DescriptorFlags::WRITE
            };
        }
        Ok(flags)
    }

    async fn get_type(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
    ) -> FsResult<DescriptorType> {
        Ok(descriptor_type(store.descriptor(&fd)?.kind()))
    }

    async fn set_size(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        size: Filesize,
    ) -> FsResult<()> {
        store.descriptor(&fd)?.set_size(size).await
    }

    async fn set_times(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        atime: NewTimestamp,
        mtime: NewTimestamp,
    ) -> FsResult<()> {
        let d = store.descriptor(&fd)?;
        d.set_times(new_time(atime)?, new_time(mtime)?).await
    }

    fn read_directory(
        mut store: Access<'_, U, Self>,
        fd: Resource<Descriptor>,
    ) -> wasmtime::Result<(
        StreamReader<DirectoryEntry>,
        FutureReader<Result<(), ErrorCode>>,
    )> {
        let dir = store
            .get()
            .table
            .get(&fd)
            .map_err(FsError::from)
            .and_then(|d| Ok(d.dir()?.file.clone()));
        let (tx, rx) = oneshot::channel();
        match dir {
            Ok(dir) => Ok((
                StreamReader::new(&mut store, DirectoryStream::new(dir, tx))?,
                FutureReader::new(&mut store, rx)?,
            )),
            Err(e) => {
                let outcome = failed(e)?;
                Ok((
                    StreamReader::new(&mut store, std::iter::empty())?,
                    FutureReader::new(
                        &mut store,
                        async move { Ok::<_, wasmtime::Error>(outcome) },
                    )?,
                ))
            }
        }
    }

    async fn sync(store: &Accessor<U, Self>, fd: Resource<Descriptor>) -> FsResult<()> {
        store.descriptor(&fd)?.sync().await
    }

    async fn create_directory_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        store.descriptor(&fd)?.create_dir_at(&path).await
    }

    async fn stat(store: &Accessor<U, Self>, fd: Resource<Descriptor>) -> FsResult<DescriptorStat> {
        Ok(stat(store.descriptor(&fd)?.stat().await?))
    }

    async fn stat_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<DescriptorStat> {
        let d = store.descriptor(&fd)?;
        Ok(stat(d.stat_at(&path, follows(flags)).await?))
    }

    async fn set_times_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
        atime: NewTimestamp,
        mtime: NewTimestamp,
    ) -> FsResult<()> {
        let d = store.descriptor(&fd)?;
        let (atime, mtime) = (new_time(atime)?, new_time(mtime)?);
        d.set_times_at(&path, follows(flags), atime, mtime).await
    }

    async fn link_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        old_flags: PathFlags,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let (old, new) = (store.descriptor(&fd)?, store.descriptor(&new_fd)?);
        old.link_at(&old_path, follows(old_flags), &new, &new_path)
            .await
    }

    async fn open_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        oflags: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let sync = DescriptorFlags::FILE_INTEGRITY_SYNC
            | DescriptorFlags::DATA_INTEGRITY_SYNC
            | DescriptorFlags::REQUESTED_WRITE_SYNC;
        let options = OpenOptions {
            follow: follows(path_flags),
            flags: fs::OpenFlags {
                create: oflags.contains(OpenFlags::CREATE),
                directory: oflags.contains(OpenFlags::DIRECTORY),
                exclusive: oflags.contains(OpenFlags::EXCLUSIVE),
                truncate: oflags.contains(OpenFlags::TRUNCATE),
            },
            read: flags.contains(DescriptorFlags::READ),
            write: flags.contains(DescriptorFlags::WRITE),
            sync: flags.intersects(sync),
        };
        let opened = store.descriptor(&fd)?.open_at(&path, options).await?;
        store.with(|mut store| Ok(store.get().table.push(opened)?))
    }

    async fn readlink_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<String> {
        store.descriptor(&fd)?.readlink_at(&path).await
    }

    async fn remove_directory_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        store.descriptor(&fd)?.remove_dir_at(&path).await
    }

    async fn rename_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let (old, new) = (store.descriptor(&fd)?, store.descriptor(&new_fd)?);
        old.rename_at(&old_path, &new, &new_path).await
    }

    async fn symlink_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        target: String,
        path: String,
    ) -> FsResult<()> {
        store.descriptor(&fd)?.symlink_at(&target, &path).await
    }

    async fn unlink_file_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        store.descriptor(&fd)?.unlink_file_at(&path).await
    }

    async fn is_same_object(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        other: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        store.with(|mut store| -> wasmtime::Result<bool> {
            let table = &store.get().table;
            Ok(table.get(&fd)?.is_same_object(table.get(&other)?))
        })
    }

    async fn metadata_hash(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
    ) -> FsResult<MetadataHashValue> {
        let d = store.descriptor(&fd)?;
        Ok(hash(&d, d.ino()))
    }

    async fn metadata_hash_at(
        store: &Accessor<U, Self>,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        let d = store.descriptor(&fd)?;
        let ino = d.stat_at(&path, follows(flags)).await?.ino;
        Ok(hash(&d, ino))
    }
}

/// `write-via-stream` / `append-via-stream`: pipes the guest's stream into
/// a [`WriteStream`] on a file open for writing; or closes it and fails the
/// outcome.
fn write_stream<U>(
    mut store: Access<'_, U, StrataP3>,
    fd: Resource<Descriptor>,
    mut data: StreamReader<u8>,
    at: WriteAt,
) -> wasmtime::Result<FutureReader<Result<(), ErrorCode>>> {
    let file: FsResult<Arc<crate::actor::OpenFile>> = store
        .get()
        .table
        .get(&fd)
        .map_err(FsError::from)
        .and_then(|d| Ok(d.writable_file()?.file.clone()));
    let (tx, rx) = oneshot::channel();
    match file {
        Ok(file) => data.pipe(&mut store, WriteStream::new(file, at, tx))?,
        Err(e) => {
            data.close(&mut store)?;
            let _ = tx.send(failed(e)?);
        }
    }
    FutureReader::new(&mut store, rx)
}
