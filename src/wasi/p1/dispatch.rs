//! The `wasi_snapshot_preview1` functions, as the trait wiggle generates
//! for them: each forwards to the file that owns its concern.

use wasmtime_wasi::p1::types::{
    Advice, CiovecArray, Clockid, Dircookie, Errno, Error, Event, Exitcode, Fd, Fdflags, Fdstat,
    Filedelta, Filesize, Filestat, Fstflags, IovecArray, Lookupflags, Oflags, Prestat, Riflags,
    Rights, Roflags, Sdflags, Siflags, Signal, Size, Subscription, Timestamp, Whence,
};
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1;
use wiggle::{GuestMemory, GuestPtr};

use super::io::{self, At};
use super::paths::{self, Lookup, OpenRequest};
use super::{P1Ctx, fdops, host, poll, readdir};

type R<T> = Result<T, Error>;
type Mem<'a, 'b> = &'a mut GuestMemory<'b>;

impl WasiSnapshotPreview1 for P1Ctx {
    fn set_hostcall_fuel(&mut self, fuel: usize) {
        self.allowance = fuel;
    }

    // ---- args, environment, clocks, random, process --------------------

    fn args_get(
        &mut self,
        mem: Mem<'_, '_>,
        ptrs: GuestPtr<GuestPtr<u8>>,
        text: GuestPtr<u8>,
    ) -> R<()> {
        host::args(self, mem, ptrs, text)
    }

    fn args_sizes_get(&mut self, _: Mem<'_, '_>) -> R<(Size, Size)> {
        host::args_sizes(self)
    }

    fn environ_get(
        &mut self,
        mem: Mem<'_, '_>,
        ptrs: GuestPtr<GuestPtr<u8>>,
        text: GuestPtr<u8>,
    ) -> R<()> {
        host::environ(self, mem, ptrs, text)
    }

    fn environ_sizes_get(&mut self, _: Mem<'_, '_>) -> R<(Size, Size)> {
        host::environ_sizes(self)
    }

    fn clock_res_get(&mut self, _: Mem<'_, '_>, clock: Clockid) -> R<Timestamp> {
        host::clock_resolution(self, clock)
    }

    fn clock_time_get(
        &mut self,
        _: Mem<'_, '_>,
        clock: Clockid,
        _precision: Timestamp,
    ) -> R<Timestamp> {
        host::clock_now(self, clock)
    }

    fn random_get(&mut self, mem: Mem<'_, '_>, into: GuestPtr<u8>, len: Size) -> R<()> {
        host::random(self, mem, into, len)
    }

    fn proc_exit(&mut self, _: Mem<'_, '_>, status: Exitcode) -> wasmtime::Error {
        host::exit(status)
    }

    fn proc_raise(&mut self, _: Mem<'_, '_>, _signal: Signal) -> R<()> {
        Err(Errno::Notsup.into()) // no signals in WASI
    }

    fn sched_yield(&mut self, _: Mem<'_, '_>) -> R<()> {
        // A p1 call cannot yield the executor from here; each fd_* call
        // that reaches the actor yields anyway.
        Ok(())
    }

    async fn poll_oneoff(
        &mut self,
        mem: Mem<'_, '_>,
        subs: GuestPtr<Subscription>,
        events: GuestPtr<Event>,
        count: Size,
    ) -> R<Size> {
        poll::poll_oneoff(self, mem, subs, events, count).await
    }

    // ---- fds --------------------------------------------------------------

    async fn fd_close(&mut self, _: Mem<'_, '_>, fd: Fd) -> R<()> {
        fdops::close(self, fd)
    }

    async fn fd_renumber(&mut self, _: Mem<'_, '_>, from: Fd, to: Fd) -> R<()> {
        fdops::renumber(self, from, to)
    }

    fn fd_prestat_get(&mut self, _: Mem<'_, '_>, fd: Fd) -> R<Prestat> {
        fdops::prestat(self, fd)
    }

    fn fd_prestat_dir_name(
        &mut self,
        mem: Mem<'_, '_>,
        fd: Fd,
        into: GuestPtr<u8>,
        room: Size,
    ) -> R<()> {
        fdops::prestat_name(self, mem, fd, into, room)
    }

    async fn fd_fdstat_get(&mut self, _: Mem<'_, '_>, fd: Fd) -> R<Fdstat> {
        fdops::fdstat(self, fd)
    }

    fn fd_fdstat_set_flags(&mut self, _: Mem<'_, '_>, fd: Fd, flags: Fdflags) -> R<()> {
        fdops::set_flags(self, fd, flags)
    }

    fn fd_fdstat_set_rights(
        &mut self,
        _: Mem<'_, '_>,
        fd: Fd,
        _base: Rights,
        _inherit: Rights,
    ) -> R<()> {
        fdops::set_rights(self, fd)
    }

    async fn fd_filestat_get(&mut self, _: Mem<'_, '_>, fd: Fd) -> R<Filestat> {
        fdops::stat(self, fd).await
    }

    async fn fd_filestat_set_size(&mut self, _: Mem<'_, '_>, fd: Fd, size: Filesize) -> R<()> {
        fdops::set_size(self, fd, size).await
    }

    async fn fd_filestat_set_times(
        &mut self,
        _: Mem<'_, '_>,
        fd: Fd,
        atime: Timestamp,
        mtime: Timestamp,
        which: Fstflags,
    ) -> R<()> {
        fdops::set_times(self, fd, atime, mtime, which).await
    }

    async fn fd_sync(&mut self, _: Mem<'_, '_>, fd: Fd) -> R<()> {
        fdops::sync(self, fd).await
    }

    async fn fd_datasync(&mut self, _: Mem<'_, '_>, fd: Fd) -> R<()> {
        fdops::sync(self, fd).await
    }

    async fn fd_advise(
        &mut self,
        _: Mem<'_, '_>,
        fd: Fd,
        _offset: Filesize,
        _len: Filesize,
        advice: Advice,
    ) -> R<()> {
        fdops::advise(self, fd, advice)
    }

    fn fd_allocate(&mut self, _: Mem<'_, '_>, fd: Fd, _offset: Filesize, _len: Filesize) -> R<()> {
        fdops::allocate(self, fd)
    }

    // ---- bytes ------------------------------------------------------------

    async fn fd_read(&mut self, mem: Mem<'_, '_>, fd: Fd, into: IovecArray) -> R<Size> {
        io::read(self, mem, fd, into, At::Cursor).await
    }

    async fn fd_pread(
        &mut self,
        mem: Mem<'_, '_>,
        fd: Fd,
        into: IovecArray,
        offset: Filesize,
    ) -> R<Size> {
        io::read(self, mem, fd, into, At::Offset(offset)).await
    }

    async fn fd_write(&mut self, mem: Mem<'_, '_>, fd: Fd, from: CiovecArray) -> R<Size> {
        io::write(self, mem, fd, from, At::Cursor).await
    }

    async fn fd_pwrite(
        &mut self,
        mem: Mem<'_, '_>,
        fd: Fd,
        from: CiovecArray,
        offset: Filesize,
    ) -> R<Size> {
        io::write(self, mem, fd, from, At::Offset(offset)).await
    }

    async fn fd_seek(
        &mut self,
        _: Mem<'_, '_>,
        fd: Fd,
        delta: Filedelta,
        whence: Whence,
    ) -> R<Filesize> {
        let from = match whence {
            Whence::Set => io::Whence::Start,
            Whence::Cur => io::Whence::Cursor,
            Whence::End => io::Whence::End,
        };
        io::seek(self, fd, delta, from).await
    }

    fn fd_tell(&mut self, _: Mem<'_, '_>, fd: Fd) -> R<Filesize> {
        io::tell(self, fd)
    }

    async fn fd_readdir(
        &mut self,
        mem: Mem<'_, '_>,
        fd: Fd,
        into: GuestPtr<u8>,
        room: Size,
        cookie: Dircookie,
    ) -> R<Size> {
        readdir::list(self, mem, fd, into, room, cookie).await
    }

    // ---- paths ------------------------------------------------------------

    async fn path_open(
        &mut self,
        mem: Mem<'_, '_>,
        dir: Fd,
        lookup: Lookupflags,
        path: GuestPtr<str>,
        oflags: Oflags,
        rights: Rights,
        _inherited: Rights,
        fdflags: Fdflags,
    ) -> R<Fd> {
        let at = Lookup::new(dir, lookup, path);
        let how = OpenRequest {
            oflags,
            rights,
            fdflags,
        };
        paths::open(self, mem, at, how).await
    }

    async fn path_filestat_get(
        &mut self,
        mem: Mem<'_, '_>,
        dir: Fd,
        lookup: Lookupflags,
        path: GuestPtr<str>,
    ) -> R<Filestat> {
        paths::stat(self, mem, Lookup::new(dir, lookup, path)).await
    }

    async fn path_filestat_set_times(
        &mut self,
        mem: Mem<'_, '_>,
        dir: Fd,
        lookup: Lookupflags,
        path: GuestPtr<str>,
        atime: Timestamp,
        mtime: Timestamp,
        which: Fstflags,
    ) -> R<()> {
        let at = Lookup::new(dir, lookup, path);
        paths::set_times(self, mem, at, atime, mtime, which).await
    }

    async fn path_create_directory(
        &mut self,
        mem: Mem<'_, '_>,
        dir: Fd,
        path: GuestPtr<str>,
    ) -> R<()> {
        paths::create_dir(self, mem, Lookup::nofollow(dir, path)).await
    }

    async fn path_remove_directory(
        &mut self,
        mem: Mem<'_, '_>,
        dir: Fd,
        path: GuestPtr<str>,
    ) -> R<()> {
        paths::remove_dir(self, mem, Lookup::nofollow(dir, path)).await
    }

    async fn path_unlink_file(&mut self, mem: Mem<'_, '_>, dir: Fd, path: GuestPtr<str>) -> R<()> {
        paths::unlink(self, mem, Lookup::nofollow(dir, path)).await
    }

    async fn path_symlink(
        &mut self,
        mem: Mem<'_, '_>,
        target: GuestPtr<str>,
        dir: Fd,
        path: GuestPtr<str>,
    ) -> R<()> {
        paths::symlink(self, mem, target, Lookup::nofollow(dir, path)).await
    }

    async fn path_readlink(
        &mut self,
        mem: Mem<'_, '_>,
        dir: Fd,
        path: GuestPtr<str>,
        into: GuestPtr<u8>,
        room: Size,
    ) -> R<Size> {
        paths::readlink(self, mem, Lookup::nofollow(dir, path), into, room).await
    }

    async fn path_rename(
        &mut self,
        mem: Mem<'_, '_>,
        old_dir: Fd,
        old: GuestPtr<str>,
        new_dir: Fd,
        new: GuestPtr<str>,
    ) -> R<()> {
        let (from, to) = (
            Lookup::nofollow(old_dir, old),
            Lookup::nofollow(new_dir, new),
        );
        paths::rename(self, mem, from, to).await
    }

    async fn path_link(
        &mut self,
        mem: Mem<'_, '_>,
        old_dir: Fd,
        lookup: Lookupflags,
        old: GuestPtr<str>,
        new_dir: Fd,
        new: GuestPtr<str>,
    ) -> R<()> {
        let (from, to) = (
            Lookup::new(old_dir, lookup, old),
            Lookup::nofollow(new_dir, new),
        );
        paths::link(self, mem, from, to).await
    }

    // ---- sockets ------------------------------------------------------------

    fn sock_accept(&mut self, _: Mem<'_, '_>, fd: Fd, _flags: Fdflags) -> R<Fd> {
        match host::not_a_socket(self, fd)? {}
    }

    fn sock_recv(
        &mut self,
        _: Mem<'_, '_>,
        fd: Fd,
        _: IovecArray,
        _: Riflags,
    ) -> R<(Size, Roflags)> {
        match host::not_a_socket(self, fd)? {}
    }

    fn sock_send(&mut self, _: Mem<'_, '_>, fd: Fd, _: CiovecArray, _: Siflags) -> R<Size> {
        match host::not_a_socket(self, fd)? {}
    }

    fn sock_shutdown(&mut self, _: Mem<'_, '_>, fd: Fd, _how: Sdflags) -> R<()> {
        match host::not_a_socket(self, fd)? {}
    }
}
