//! Strata's descriptor — every filesystem operation a guest can ask of an
//! open file or directory — and the p2 `descriptor` resource over it.
//!
//! The answers and their order follow wasmtime-wasi on Linux, so a guest
//! cannot tell the two apart by their errors.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};
use wasmtime_wasi::{FsPerms, OpenMode};

use super::bindings::{preopens, types};
use super::ctx::{Preopen, StrataCtxView};
use super::error::{FsError, FsResult, StreamFailure};
use super::readdir::DirectoryEntryStream;
use super::stream::{FileInputStream, FileOutputStream};
use crate::actor::{self, FollowSymlinks, OpenFile};
use crate::fs::{DirEntry, Kind, OpenFlags, SetTime, Stat, Timestamp};

use types::{DescriptorFlags, ErrorCode, Filesize, NewTimestamp, PathFlags};

/// An open file or directory of a guest: Strata's own descriptor, which
/// the p2 `descriptor` resource and the p1 fd table both hold.
///
/// Every filesystem operation is a method here. Each checks what
/// wasmtime-wasi checks before the OS is asked — the preopen's permissions,
/// the mode the descriptor was opened in, file versus directory — and then
/// asks the filesystem actor; the WASI layers only translate their types.
#[derive(Clone, Debug)]
pub struct Descriptor {
    pub(crate) file: Arc<OpenFile>,
    pub(crate) mode: OpenMode,
    pub(crate) perms: FsPerms,
}

/// How [`Descriptor::open_at`] opens a path.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OpenOptions {
    /// Follow a final symlink.
    pub follow: bool,
    /// Create, exclusive, truncate, directory.
    pub flags: OpenFlags,
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// A synchronous-I/O flag was asked for (not supported).
    pub sync: bool,
}

impl Descriptor {
    /// A descriptor for a preopened directory.
    pub(crate) fn preopened(preopen: &Preopen) -> Descriptor {
        let mode = match preopen.perms {
            FsPerms::ReadOnly => OpenMode::READ,
            FsPerms::ReadWrite => OpenMode::READ | OpenMode::WRITE,
        };
        Descriptor {
            file: preopen.dir.clone(),
            mode,
            perms: preopen.perms,
        }
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.file.kind() == Kind::Dir
    }

    /// This descriptor as a directory, or `not-directory`.
    pub(crate) fn dir(&self) -> FsResult<&Descriptor> {
        if self.is_dir() {
            Ok(self)
        } else {
            Err(ErrorCode::NotDirectory.into())
        }
    }

    /// This descriptor as a file, or `bad-descriptor` (as wasmtime-wasi
    /// answers file-only calls on directories).
    pub(crate) fn file(&self) -> FsResult<&Descriptor> {
        if self.is_dir() {
            Err(ErrorCode::BadDescriptor.into())
        } else {
            Ok(self)
        }
    }

    /// A directory under a writable preopen, to change entries in.
    fn mutable_dir(&self) -> FsResult<&Descriptor> {
        self.dir()?.writable()
    }

    /// Renames and links stay under one permission, as wasmtime-wasi
    /// requires (and within one filesystem: `OpenFile::rename_at` and
    /// `link_at` answer `cross-device` for another mount).
    fn same_permissions(&self, other: &Descriptor) -> FsResult<()> {
        if self.perms != other.perms {
            return Err(ErrorCode::NotPermitted.into());
        }
        Ok(())
    }

    /// Fails with `not-permitted` under a read-only preopen.
    fn writable(&self) -> FsResult<&Descriptor> {
        match self.perms {
            FsPerms::ReadWrite => Ok(self),
            FsPerms::ReadOnly => Err(ErrorCode::NotPermitted.into()),
        }
    }

    pub(crate) fn ino(&self) -> crate::fs::Ino {
        self.file.ino()
    }

    pub(crate) fn kind(&self) -> Kind {
        self.file.kind()
    }

    /// Whether it was opened for reading / for writing.
    pub(crate) fn can_read(&self) -> bool {
        self.mode.contains(OpenMode::READ)
    }

    pub(crate) fn can_write(&self) -> bool {
        self.mode.contains(OpenMode::WRITE)
    }

    /// The identity of object `ino` in this descriptor's filesystem, as p1
    /// reports inode numbers (the low half of `metadata-hash`).
    pub(crate) fn identity(&self, ino: crate::fs::Ino) -> u64 {
        metadata_hash(&self.file, ino).lower
    }

    /// Whether both name the same object of the same filesystem.
    pub(crate) fn is_same_object(&self, other: &Descriptor) -> bool {
        self.file.same_fork(&other.file) && self.ino() == other.ino()
    }

    /// A file opened for reading (`bad-descriptor` otherwise, as a read on
    /// a write-only fd is `EBADF`).
    pub(crate) fn readable_file(&self) -> FsResult<&Descriptor> {
        let d = self.file()?;
        if d.can_read() {
            Ok(d)
        } else {
            Err(ErrorCode::BadDescriptor.into())
        }
    }

    /// A file opened for writing under a writable preopen.
    pub(crate) fn writable_file(&self) -> FsResult<&Descriptor> {
        let d = self.file()?.writable()?;
        if d.can_write() {
            Ok(d)
        } else {
            Err(ErrorCode::BadDescriptor.into())
        }
    }

    /// The most one read or write moves (`Limits::max_io`).
    pub(crate) fn max_io(&self) -> u64 {
        self.file.limits().max_io
    }

    // ---- operations ------------------------------------------------------

    /// Opens `path` under this directory, in the mode `options` ask for
    /// (worked out as wasmtime-wasi does: creating or truncating writes;
    /// not writing reads).
    pub(crate) async fn open_at(&self, path: &str, options: OpenOptions) -> FsResult<Descriptor> {
        let d = self.dir()?;
        let OpenOptions { flags, .. } = options;
        let mut mode = OpenMode::empty();
        if flags.create || flags.truncate || options.write {
            mode |= OpenMode::WRITE;
        }
        if options.read || !options.write {
            mode |= OpenMode::READ;
        }
        if options.sync {
            return Err(ErrorCode::Unsupported.into());
        }
        if flags.directory && (flags.create || flags.exclusive || flags.truncate) {
            return Err(ErrorCode::Invalid.into());
        }
        if d.perms == FsPerms::ReadOnly && (flags.create || mode.contains(OpenMode::WRITE)) {
            return Err(ErrorCode::NotPermitted.into());
        }
        let options = actor::OpenOptions::new()
            .flags(flags)
            .write(mode.contains(OpenMode::WRITE))
            .follow(follow_symlinks(options.follow));
        let file = d.file.open_at(path, options).await?;
        Ok(Descriptor {
            file: Arc::new(file),
            mode,
            perms: d.perms,
        })
    }

    /// Metadata of this object.
    pub(crate) async fn stat(&self) -> FsResult<Stat> {
        Ok(self.file.stat().await?)
    }

    /// Metadata of `path` under this directory.
    pub(crate) async fn stat_at(&self, path: &str, follow: bool) -> FsResult<Stat> {
        Ok(self
            .dir()?
            .file
            .stat_at(path, follow_symlinks(follow))
            .await?)
    }

    /// Nothing to flush; the object must still be there.
    pub(crate) async fn sync(&self) -> FsResult<()> {
        self.stat().await.map(drop)
    }

    /// Up to `len` bytes at `offset`, as slices of the file's chunks.
    pub(crate) async fn read(&self, offset: u64, len: u64) -> FsResult<Vec<Bytes>> {
        Ok(self.readable_file()?.file.read(offset, len).await?)
    }

    /// Writes `data` at `offset`; returns the count written.
    pub(crate) async fn write(&self, offset: u64, data: Bytes) -> FsResult<usize> {
        Ok(self.writable_file()?.file.write(offset, data).await?)
    }

    /// Writes `data` at the end; returns where it went and the count.
    pub(crate) async fn append(&self, data: Bytes) -> FsResult<(u64, usize)> {
        Ok(self.writable_file()?.file.append(data).await?)
    }

    /// Truncates or extends the file.
    pub(crate) async fn set_size(&self, size: u64) -> FsResult<()> {
        let d = self.file()?.writable()?;
        if !d.can_write() {
            return Err(ErrorCode::Invalid.into()); // ftruncate on a read-only descriptor
        }
        Ok(d.file.set_size(size).await?)
    }

    /// Sets this object's access and modification times.
    pub(crate) async fn set_times(&self, atime: SetTime, mtime: SetTime) -> FsResult<()> {
        Ok(self.writable()?.file.set_times(atime, mtime).await?)
    }

    /// Sets the times of `path` under this directory.
    pub(crate) async fn set_times_at(
        &self,
        path: &str,
        follow: bool,
        atime: SetTime,
        mtime: SetTime,
    ) -> FsResult<()> {
        let dir = &self.mutable_dir()?.file;
        let follow = follow_symlinks(follow);
        Ok(dir.set_times_at(path, follow, atime, mtime).await?)
    }

    /// Up to `max` entries of this directory after the name `after`.
    pub(crate) async fn read_dir(
        &self,
        after: Option<&str>,
        max: usize,
    ) -> FsResult<Vec<DirEntry>> {
        Ok(self.dir()?.file.read_dir(after, max).await?)
    }

    pub(crate) async fn create_dir_at(&self, path: &str) -> FsResult<()> {
        Ok(self.mutable_dir()?.file.create_dir_at(path).await?)
    }

    pub(crate) async fn remove_dir_at(&self, path: &str) -> FsResult<()> {
        Ok(self.mutable_dir()?.file.remove_dir_at(path).await?)
    }

    pub(crate) async fn unlink_file_at(&self, path: &str) -> FsResult<()> {
        Ok(self.mutable_dir()?.file.unlink_file_at(path).await?)
    }

    pub(crate) async fn readlink_at(&self, path: &str) -> FsResult<String> {
        Ok(self.dir()?.file.readlink_at(path).await?)
    }

    /// Creates a symlink at `path` pointing at `target`.
    pub(crate) async fn symlink_at(&self, target: &str, path: &str) -> FsResult<()> {
        Ok(self.mutable_dir()?.file.symlink_at(target, path).await?)
    }

    /// Moves `old_path` here to `new_path` under `new_dir`.
    pub(crate) async fn rename_at(
        &self,
        old_path: &str,
        new_dir: &Descriptor,
        new_path: &str,
    ) -> FsResult<()> {
        let (old, new) = (self.mutable_dir()?, new_dir.mutable_dir()?);
        new.same_permissions(old)?;
        Ok(old.file.rename_at(old_path, &new.file, new_path).await?)
    }

    /// Links `old_path` here as `new_path` under `new_dir`. Following a
    /// final symlink is `invalid`, as in wasmtime-wasi.
    pub(crate) async fn link_at(
        &self,
        old_path: &str,
        follow: bool,
        new_dir: &Descriptor,
        new_path: &str,
    ) -> FsResult<()> {
        let (old, new) = (self.mutable_dir()?, new_dir.mutable_dir()?);
        if follow {
            return Err(ErrorCode::Invalid.into());
        }
        new.same_permissions(old)?;
        Ok(old.file.link_at(old_path, &new.file, new_path).await?)
    }
}

fn follow_symlinks(follow: bool) -> FollowSymlinks {
    if follow {
        FollowSymlinks::Yes
    } else {
        FollowSymlinks::No
    }
}

fn new_time(t: NewTimestamp) -> FsResult<SetTime> {
    Ok(match t {
        NewTimestamp::NoChange => SetTime::Keep,
        NewTimestamp::Now => SetTime::Now,
        NewTimestamp::Timestamp(t) => {
            let seconds = t
                .seconds
                .checked_add(u64::from(t.nanoseconds / 1_000_000_000));
            let seconds = seconds.ok_or(ErrorCode::Overflow)?;
            let at = Timestamp::new(seconds, t.nanoseconds % 1_000_000_000);
            SetTime::At(at.ok_or(ErrorCode::Overflow)?)
        }
    })
}

pub(crate) fn datetime(t: Timestamp) -> wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime {
    wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime {
        seconds: t.seconds,
        nanoseconds: t.nanoseconds,
    }
}

pub(crate) fn descriptor_type(kind: Kind) -> types::DescriptorType {
    match kind {
        Kind::File => types::DescriptorType::RegularFile,
        Kind::Dir => types::DescriptorType::Directory,
        Kind::Symlink => types::DescriptorType::SymbolicLink,
    }
}

fn stat(s: Stat) -> types::DescriptorStat {
    types::DescriptorStat {
        type_: descriptor_type(s.kind),
        link_count: s.nlink,
        size: s.size,
        data_access_timestamp: Some(datetime(s.atime)),
        data_modification_timestamp: Some(datetime(s.mtime)),
        status_change_timestamp: Some(datetime(s.ctime)),
    }
}

/// A hash of an object's identity: stable while it exists, equal for two
/// names of one object, different for different objects of one filesystem
/// (the fork `within` is open in).
pub(crate) fn metadata_hash(within: &OpenFile, ino: crate::fs::Ino) -> types::MetadataHashValue {
    let mut hasher = std::hash::DefaultHasher::new();
    (within.vfs().id(), within.fork_id(), ino).hash(&mut hasher);
    let lower = hasher.finish();
    // As wasmtime-wasi does: 64 bits of identity, spread over both halves.
    types::MetadataHashValue {
        lower,
        upper: lower ^ 4614256656552045848u64,
    }
}

fn follows(flags: PathFlags) -> bool {
    flags.contains(PathFlags::SYMLINK_FOLLOW)
}

impl StrataCtxView<'_> {
    /// Puts a descriptor for each preopened directory in the table.
    pub(crate) fn preopened(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let mut out = Vec::new();
        for preopen in &self.ctx.preopens {
            let descriptor = Descriptor::preopened(preopen);
            out.push((self.table.push(descriptor)?, preopen.guest_path.clone()));
        }
        Ok(out)
    }
}

impl preopens::Host for StrataCtxView<'_> {
    async fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        self.preopened()
    }
}

impl types::Host for StrataCtxView<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        err.into_error_code()
    }

    async fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime_wasi::p2::bindings::io::error::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let err = self.table.get(&err)?;
        Ok(err.downcast_ref::<StreamFailure>().map(|f| f.0))
    }
}

/// The p2 `descriptor` methods: each finds the descriptor in the table and
/// translates between p2's types and [`Descriptor`]'s.
impl types::HostDescriptor for StrataCtxView<'_> {
    async fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        let d = self.table.get(&fd)?;
        if d.is_dir() {
            return Err(ErrorCode::IsDirectory.into());
        }
        let stream: DynInputStream = Box::new(FileInputStream::new(d, offset));
        Ok(self.table.push(stream)?)
    }

    async fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let d = self.table.get(&fd)?.file()?.writable()?;
        let stream: DynOutputStream = Box::new(FileOutputStream::at(d, offset));
        Ok(self.table.push(stream)?)
    }

    async fn append_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let d = self.table.get(&fd)?.file()?.writable()?;
        let stream: DynOutputStream = Box::new(FileOutputStream::append(d));
        Ok(self.table.push(stream)?)
    }

    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        _offset: Filesize,
        _len: Filesize,
        _advice: types::Advice,
    ) -> FsResult<()> {
        // Everything is in memory already: advice changes nothing.
        self.table.get(&fd)?.file()?;
        Ok(())
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        self.table.get(&fd)?.sync().await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorFlags> {
        let d = self.table.get(&fd)?;
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

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorType> {
        Ok(descriptor_type(self.table.get(&fd)?.kind()))
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: Filesize) -> FsResult<()> {
        self.table.get(&fd)?.set_size(size).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atime: NewTimestamp,
        mtime: NewTimestamp,
    ) -> FsResult<()> {
        let d = self.table.get(&fd)?;
        d.set_times(new_time(atime)?, new_time(mtime)?).await
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: Filesize,
        offset: Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        let data = self.table.get(&fd)?.read(offset, len).await?.concat();
        let end = data.is_empty();
        Ok((data, end))
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buffer: Vec<u8>,
        offset: Filesize,
    ) -> FsResult<Filesize> {
        let d = self.table.get(&fd)?;
        Ok(d.write(offset, Bytes::from(buffer)).await? as Filesize)
    }

    async fn read_directory(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DirectoryEntryStream>> {
        let d = self.table.get(&fd)?.dir()?;
        let stream = DirectoryEntryStream::new(d.file.clone());
        Ok(self.table.push(stream)?)
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        self.table.get(&fd)?.sync().await
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.table.get(&fd)?.create_dir_at(&path).await
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorStat> {
        Ok(stat(self.table.get(&fd)?.stat().await?))
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        let d = self.table.get(&fd)?;
        Ok(stat(d.stat_at(&path, follows(flags)).await?))
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
        atime: NewTimestamp,
        mtime: NewTimestamp,
    ) -> FsResult<()> {
        let d = self.table.get(&fd)?;
        let (atime, mtime) = (new_time(atime)?, new_time(mtime)?);
        d.set_times_at(&path, follows(flags), atime, mtime).await
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_flags: PathFlags,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let (old, new) = (self.table.get(&fd)?, self.table.get(&new_fd)?);
        old.link_at(&old_path, follows(old_flags), new, &new_path)
            .await
    }

    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let sync = DescriptorFlags::FILE_INTEGRITY_SYNC
            | DescriptorFlags::DATA_INTEGRITY_SYNC
            | DescriptorFlags::REQUESTED_WRITE_SYNC;
        let options = OpenOptions {
            follow: follows(path_flags),
            flags: OpenFlags {
                create: oflags.contains(types::OpenFlags::CREATE),
                directory: oflags.contains(types::OpenFlags::DIRECTORY),
                exclusive: oflags.contains(types::OpenFlags::EXCLUSIVE),
                truncate: oflags.contains(types::OpenFlags::TRUNCATE),
            },
            read: flags.contains(DescriptorFlags::READ),
            write: flags.contains(DescriptorFlags::WRITE),
            sync: flags.intersects(sync),
        };
        let opened = self.table.get(&fd)?.open_at(&path, options).await?;
        Ok(self.table.push(opened)?)
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        self.table.get(&fd)?.readlink_at(&path).await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.table.get(&fd)?.remove_dir_at(&path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let (old, new) = (self.table.get(&fd)?, self.table.get(&new_fd)?);
        old.rename_at(&old_path, new, &new_path).await
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<Descriptor>,
        target: String,
        path: String,
    ) -> FsResult<()> {
        self.table.get(&fd)?.symlink_at(&target, &path).await
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.table.get(&fd)?.unlink_file_at(&path).await
    }

    async fn is_same_object(
        &mut self,
        a: Resource<Descriptor>,
        b: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        Ok(self.table.get(&a)?.is_same_object(self.table.get(&b)?))
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<types::MetadataHashValue> {
        let d = self.table.get(&fd)?;
        Ok(metadata_hash(&d.file, d.ino()))
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        let d = self.table.get(&fd)?;
        let ino = d.stat_at(&path, follows(flags)).await?.ino;
        Ok(metadata_hash(&d.file, ino))
    }

    async fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        // Dropping the last `Arc<OpenFile>` (streams may hold others) releases
        // the handle in the actor.
        self.table.delete(fd)?;
        Ok(())
    }
}
