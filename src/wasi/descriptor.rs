//! The `descriptor` resource and every `wasi:filesystem/types` method.
//!
//! Each method checks what wasmtime-wasi checks before the OS is asked — the
//! preopen's permissions, the mode the descriptor was opened in, file versus
//! directory — and then asks the filesystem actor. The answers and their
//! order follow wasmtime-wasi on Linux, so a guest cannot tell the two apart
//! by their errors.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};
use wasmtime_wasi::{FsPerms, OpenMode};

use super::bindings::{preopens, types};
use super::ctx::{Mount, StrataCtxView};
use super::error::{FsError, FsResult, StreamFailure};
use super::readdir::DirectoryEntryStream;
use super::stream::{FileInputStream, FileOutputStream};
use crate::actor::OpenFile;
use crate::fs::{Kind, OpenFlags, SetTime, Stat, Timestamp};

use types::{DescriptorFlags, ErrorCode, Filesize, NewTimestamp, PathFlags};

/// An open file or directory of a guest.
#[derive(Debug)]
pub struct Descriptor {
    pub(crate) mount: Mount,
    pub(crate) file: Arc<OpenFile>,
    pub(crate) mode: OpenMode,
    pub(crate) perms: FsPerms,
}

impl Descriptor {
    pub(crate) fn is_dir(&self) -> bool {
        self.file.kind() == Kind::Dir
    }

    /// This descriptor as a directory, or `not-directory`.
    fn dir(&self) -> FsResult<&Descriptor> {
        if self.is_dir() {
            Ok(self)
        } else {
            Err(ErrorCode::NotDirectory.into())
        }
    }

    /// This descriptor as a file, or `bad-descriptor` (as wasmtime-wasi
    /// answers file-only calls on directories).
    fn file(&self) -> FsResult<&Descriptor> {
        if self.is_dir() {
            Err(ErrorCode::BadDescriptor.into())
        } else {
            Ok(self)
        }
    }

    /// Renames and links stay within one filesystem, under one permission
    /// (as wasmtime-wasi requires); another mount is `cross-device`.
    fn same_filesystem(&self, other: &Descriptor) -> FsResult<()> {
        if self.perms != other.perms {
            return Err(ErrorCode::NotPermitted.into());
        }
        if !self.mount.same_device(&other.mount) {
            return Err(ErrorCode::CrossDevice.into());
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

    /// The identity of object `ino` in this descriptor's filesystem, as p1
    /// reports inode numbers (the low half of `metadata-hash`).
    pub(crate) fn identity(&self, ino: crate::fs::Ino) -> u64 {
        metadata_hash(&self.mount, ino).lower
    }

    /// A file opened for reading (`bad-descriptor` otherwise, as a read on
    /// a write-only fd is `EBADF`).
    pub(crate) fn readable_file(&self) -> FsResult<&Descriptor> {
        let d = self.file()?;
        if d.mode.contains(OpenMode::READ) {
            Ok(d)
        } else {
            Err(ErrorCode::BadDescriptor.into())
        }
    }

    /// Metadata of this object.
    pub(crate) async fn stat(&self) -> FsResult<Stat> {
        Ok(self.mount.vfs.stat(self.mount.fork, self.ino()).await?)
    }

    /// Metadata of `path` under this directory.
    pub(crate) async fn stat_at(&self, path: &str, follow: bool) -> FsResult<Stat> {
        let d = self.dir()?;
        let vfs = &d.mount.vfs;
        Ok(vfs.stat_at(d.mount.fork, d.ino(), path, follow).await?)
    }

    /// A file opened for writing under a writable preopen.
    pub(crate) fn writable_file(&self) -> FsResult<&Descriptor> {
        let d = self.file()?.writable()?;
        if d.mode.contains(OpenMode::WRITE) {
            Ok(d)
        } else {
            Err(ErrorCode::BadDescriptor.into())
        }
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
/// names of one object, different for different objects of one filesystem.
fn metadata_hash(mount: &Mount, ino: crate::fs::Ino) -> types::MetadataHashValue {
    let mut hasher = std::hash::DefaultHasher::new();
    (mount.vfs.id(), mount.fork, ino).hash(&mut hasher);
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
    /// The two writable directories a rename or a link works between.
    fn two_dirs(
        &self,
        a: &Resource<Descriptor>,
        b: &Resource<Descriptor>,
    ) -> FsResult<(&Descriptor, &Descriptor)> {
        let a = self.table.get(a)?.dir()?.writable()?;
        let b = self.table.get(b)?.dir()?.writable()?;
        Ok((a, b))
    }

    /// Puts a descriptor for each preopened directory in the table.
    pub(crate) fn preopened(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let mut out = Vec::new();
        for preopen in &self.ctx.preopens {
            let mode = match preopen.perms {
                FsPerms::ReadOnly => OpenMode::READ,
                FsPerms::ReadWrite => OpenMode::READ | OpenMode::WRITE,
            };
            let descriptor = Descriptor {
                mount: preopen.mount.clone(),
                file: preopen.dir.clone(),
                mode,
                perms: preopen.perms,
            };
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
        self.sync(fd).await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorFlags> {
        let d = self.table.get(&fd)?;
        let mut flags = DescriptorFlags::empty();
        if d.mode.contains(OpenMode::READ) {
            flags |= DescriptorFlags::READ;
        }
        if d.mode.contains(OpenMode::WRITE) {
            flags |= if d.is_dir() {
                DescriptorFlags::MUTATE_DIRECTORY
            } else {
                DescriptorFlags::WRITE
            };
        }
        Ok(flags)
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorType> {
        Ok(descriptor_type(self.table.get(&fd)?.file.kind()))
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: Filesize) -> FsResult<()> {
        let d = self.table.get(&fd)?.file()?.writable()?;
        if !d.mode.contains(OpenMode::WRITE) {
            return Err(ErrorCode::Invalid.into()); // ftruncate on a read-only descriptor
        }
        Ok(d.mount.vfs.set_size(d.mount.fork, d.ino(), size).await?)
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atime: NewTimestamp,
        mtime: NewTimestamp,
    ) -> FsResult<()> {
        let d = self.table.get(&fd)?.writable()?;
        let (atime, mtime) = (new_time(atime)?, new_time(mtime)?);
        Ok(d.mount
            .vfs
            .set_times(d.mount.fork, d.ino(), atime, mtime)
            .await?)
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: Filesize,
        offset: Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        let d = self.table.get(&fd)?.readable_file()?;
        let pieces = d.mount.vfs.read(d.mount.fork, d.ino(), offset, len).await?;
        let data = pieces.concat();
        let end = data.is_empty();
        Ok((data, end))
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buffer: Vec<u8>,
        offset: Filesize,
    ) -> FsResult<Filesize> {
        let d = self.table.get(&fd)?.writable_file()?;
        let n = d
            .mount
            .vfs
            .write(d.mount.fork, d.ino(), offset, Bytes::from(buffer))
            .await?;
        Ok(n as Filesize)
    }

    async fn read_directory(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DirectoryEntryStream>> {
        let d = self.table.get(&fd)?.dir()?;
        let stream = DirectoryEntryStream::new(d.mount.clone(), d.file.clone());
        Ok(self.table.push(stream)?)
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        // Nothing to flush; the object must still be there.
        self.table.get(&fd)?.stat().await?;
        Ok(())
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let d = self.table.get(&fd)?.dir()?.writable()?;
        Ok(d.mount
            .vfs
            .create_dir_at(d.mount.fork, d.ino(), &path)
            .await?)
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
        let d = self.table.get(&fd)?.dir()?.writable()?;
        let (atime, mtime) = (new_time(atime)?, new_time(mtime)?);
        let vfs = &d.mount.vfs;
        Ok(vfs
            .set_times_at(d.mount.fork, d.ino(), &path, follows(flags), atime, mtime)
            .await?)
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_flags: PathFlags,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let (old, new) = self.two_dirs(&fd, &new_fd)?;
        if follows(old_flags) {
            return Err(ErrorCode::Invalid.into());
        }
        new.same_filesystem(old)?;
        let vfs = &old.mount.vfs;
        Ok(vfs
            .link_at(old.mount.fork, old.ino(), &old_path, new.ino(), &new_path)
            .await?)
    }

    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let d = self.table.get(&fd)?.dir()?;
        let create = oflags.contains(types::OpenFlags::CREATE);
        let truncate = oflags.contains(types::OpenFlags::TRUNCATE);
        // The open mode, worked out as wasmtime-wasi does.
        let mut mode = OpenMode::empty();
        if create || truncate {
            mode |= OpenMode::WRITE;
        }
        if flags.contains(DescriptorFlags::READ) {
            mode |= OpenMode::READ;
        }
        if flags.contains(DescriptorFlags::WRITE) {
            mode |= OpenMode::WRITE;
        } else {
            mode |= OpenMode::READ;
        }
        let sync = DescriptorFlags::FILE_INTEGRITY_SYNC
            | DescriptorFlags::DATA_INTEGRITY_SYNC
            | DescriptorFlags::REQUESTED_WRITE_SYNC;
        if flags.intersects(sync) {
            return Err(ErrorCode::Unsupported.into());
        }
        let open = OpenFlags {
            create,
            directory: oflags.contains(types::OpenFlags::DIRECTORY),
            exclusive: oflags.contains(types::OpenFlags::EXCLUSIVE),
            truncate,
        };
        if open.directory && (open.create || open.exclusive || open.truncate) {
            return Err(ErrorCode::Invalid.into());
        }
        if d.perms == FsPerms::ReadOnly && (create || mode.contains(OpenMode::WRITE)) {
            return Err(ErrorCode::NotPermitted.into());
        }
        let write = mode.contains(OpenMode::WRITE);
        let file = d
            .mount
            .vfs
            .open_at(
                d.mount.fork,
                d.ino(),
                &path,
                follows(path_flags),
                open,
                write,
            )
            .await?;
        let opened = Descriptor {
            mount: d.mount.clone(),
            file: Arc::new(file),
            mode,
            perms: d.perms,
        };
        Ok(self.table.push(opened)?)
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        let d = self.table.get(&fd)?.dir()?;
        Ok(d.mount
            .vfs
            .readlink_at(d.mount.fork, d.ino(), &path)
            .await?)
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let d = self.table.get(&fd)?.dir()?.writable()?;
        Ok(d.mount
            .vfs
            .remove_dir_at(d.mount.fork, d.ino(), &path)
            .await?)
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let (old, new) = self.two_dirs(&fd, &new_fd)?;
        new.same_filesystem(old)?;
        let vfs = &old.mount.vfs;
        Ok(vfs
            .rename_at(old.mount.fork, old.ino(), &old_path, new.ino(), &new_path)
            .await?)
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<Descriptor>,
        target: String,
        path: String,
    ) -> FsResult<()> {
        let d = self.table.get(&fd)?.dir()?.writable()?;
        Ok(d.mount
            .vfs
            .symlink_at(d.mount.fork, &target, d.ino(), &path)
            .await?)
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        let d = self.table.get(&fd)?.dir()?.writable()?;
        Ok(d.mount
            .vfs
            .unlink_file_at(d.mount.fork, d.ino(), &path)
            .await?)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<Descriptor>,
        b: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        let (a, b) = (self.table.get(&a)?, self.table.get(&b)?);
        Ok(a.mount.same_device(&b.mount) && a.ino() == b.ino())
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<types::MetadataHashValue> {
        let d = self.table.get(&fd)?;
        Ok(metadata_hash(&d.mount, d.ino()))
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        let d = self.table.get(&fd)?;
        let ino = d.stat_at(&path, follows(flags)).await?.ino;
        Ok(metadata_hash(&d.mount, ino))
    }

    async fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        // Dropping the last `Arc<OpenFile>` (streams may hold others) releases
        // the handle in the actor.
        self.table.delete(fd)?;
        Ok(())
    }
}
