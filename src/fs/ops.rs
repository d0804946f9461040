//! The filesystem operations, as `wasi:filesystem@0.2` needs them.
//!
//! Each operation changes its [`Tree`] in place, noting what it changes in
//! the operation's journal (see `journal`), so it may fail — or hit a
//! `NeedsBase` miss — at any point without leaving partial changes behind. Error precedence follows
//! Linux as wasmtime-wasi exposes it (cap-std over `openat2`), since that is
//! what guests observe today.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use imbl::OrdMap;

use super::data::{CHUNK_SIZE, Cost, FileData};
use super::error::{Errno, Result};
use super::node::{Body, DirData, Ino, Kind, Name};
use super::path::{FinalLink, Found, check_path, resolve, resolve_parent, single_name};
use super::time::SetTime;
use super::tree::{Ctx, Tree, View};

/// How `open_at` treats the final path component (`wasi:filesystem`'s
/// `open-flags`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenFlags {
    /// Create a regular file if nothing exists there.
    pub create: bool,
    /// Fail unless the object is a directory.
    pub directory: bool,
    /// With `create`: fail if anything exists there.
    pub exclusive: bool,
    /// Truncate a regular file to size 0.
    pub truncate: bool,
}

/// What an open finds: an existing object, or where to create a file.
pub(crate) enum Opening<'p> {
    Existing(Ino, Kind),
    Create { parent: Ino, name: Cow<'p, str> },
}

/// Strips trailing slashes, as POSIX `mkdir` and `rename` tolerate them
/// (`a/` names `a`); a path of only slashes stays `/`.
fn strip_trailing_slashes(path: &str) -> &str {
    let stripped = path.trim_end_matches('/');
    if stripped.is_empty() && !path.is_empty() {
        "/"
    } else {
        stripped
    }
}

impl Tree {
    fn resolve<'p>(
        &self,
        ctx: &Ctx<'_>,
        dir: Ino,
        path: &'p str,
        final_link: FinalLink,
    ) -> Result<Found<'p>> {
        resolve(self, ctx.base, ctx.limits, dir, path, final_link)
    }

    fn resolve_parent<'p>(&self, ctx: &Ctx<'_>, dir: Ino, path: &'p str) -> Result<Found<'p>> {
        resolve_parent(self, ctx.base, ctx.limits, dir, path)
    }

    /// Opens (and maybe creates) the object at `path`. `write` says whether
    /// the caller wants to write it; `create` and `truncate` imply it, as in
    /// wasmtime-wasi.
    pub(crate) fn open_at(
        &mut self,
        ctx: &mut Ctx<'_>,
        dir: Ino,
        path: &str,
        follow: bool,
        flags: OpenFlags,
        write: bool,
    ) -> Result<(Ino, Kind)> {
        match self.find_for_open(ctx, dir, path, follow, flags, write)? {
            Opening::Create { parent, name } => {
                let ino = self.add(ctx, parent, &name, Body::File(FileData::default()))?;
                Ok((ino, Kind::File))
            }
            Opening::Existing(ino, kind) => {
                if flags.truncate && kind == Kind::File {
                    self.set_size(ctx, ino, 0)?;
                }
                Ok((ino, kind))
            }
        }
    }

    /// Everything `open_at` decides before it changes anything: the object
    /// it opens, or where it creates one. Without `create` and `truncate`
    /// this *is* the open, so it can run on a snapshot.
    pub(crate) fn find_for_open<'p>(
        &self,
        ctx: &Ctx<'_>,
        dir: Ino,
        path: &'p str,
        follow: bool,
        flags: OpenFlags,
        write: bool,
    ) -> Result<Opening<'p>> {
        if flags.directory && (flags.create || flags.exclusive || flags.truncate) {
            return Err(Errno::Invalid.into());
        }
        let write = write || flags.create || flags.truncate;
        if flags.create && path.ends_with('/') {
            // Linux refuses `O_CREAT` with a trailing slash once the parent
            // resolves, whatever the last component is.
            if self
                .resolve_parent(ctx, dir, strip_trailing_slashes(path))?
                .name
                .is_some()
            {
                return Err(Errno::IsDirectory.into());
            }
        }
        // `O_CREAT | O_EXCL` never follows a final symlink: one that exists,
        // dangling or not, is "exists".
        let final_link = match (follow, flags.create, flags.exclusive) {
            (false, _, _) | (true, true, true) => FinalLink::Keep,
            (true, true, false) => FinalLink::Create,
            (true, false, _) => FinalLink::Follow,
        };
        let found = self.resolve(ctx, dir, path, final_link)?;
        if flags.create && found.trailing_slash && found.name.is_some() {
            // The same rule, for a slash that came from a symlink's target.
            return Err(Errno::IsDirectory.into());
        }
        let Some((ino, kind)) = found.target else {
            if !flags.create {
                return Err(Errno::NoEntry.into());
            }
            if found.trailing_slash {
                return Err(Errno::IsDirectory.into());
            }
            // A missing target always has a name; the root never is missing.
            let name = found.name.ok_or(Errno::NoEntry)?;
            return Ok(Opening::Create {
                parent: found.parent,
                name,
            });
        };
        if flags.create && flags.exclusive {
            return Err(Errno::Exist.into());
        }
        match kind {
            Kind::Dir if write => Err(Errno::IsDirectory.into()),
            Kind::Dir => Ok(Opening::Existing(ino, kind)),
            // `O_NOFOLLOW` on a symlink; wasmtime-wasi checks `directory`
            // only after the open succeeded.
            Kind::Symlink => Err(Errno::Loop.into()),
            _ if flags.directory || found.trailing_slash => Err(Errno::NotDirectory.into()),
            Kind::File => Ok(Opening::Existing(ino, kind)),
        }
    }

    /// Creates a node named `name` in `dir` and links it there.
    fn add(&mut self, ctx: &mut Ctx<'_>, dir: Ino, name: &str, body: Body) -> Result<Ino> {
        if name.len() > ctx.limits.max_name_len {
            return Err(Errno::NameTooLong.into());
        }
        let name: Name = name.into();
        let kind = match body {
            Body::File(_) => Kind::File,
            Body::Dir(_) => Kind::Dir,
            Body::Symlink(_) => Kind::Symlink,
        };
        let ino = self.create(ctx, body, (dir, name.clone()))?;
        self.set_entry(ctx, dir, &name, Some((ino, kind)))?;
        Ok(ino)
    }

    pub(crate) fn create_dir_at(&mut self, ctx: &mut Ctx<'_>, dir: Ino, path: &str) -> Result<()> {
        let found = self.resolve_parent(ctx, dir, strip_trailing_slashes(path))?;
        match (found.name, found.target) {
            (Some(name), None) => {
                let body = Body::Dir(DirData {
                    entries: OrdMap::new(),
                    lower: false,
                    subdirs: 0,
                });
                self.add(ctx, found.parent, &name, body)?;
                Ok(())
            }
            _ => Err(Errno::Exist.into()),
        }
    }

    pub(crate) fn symlink_at(
        &mut self,
        ctx: &mut Ctx<'_>,
        target: &str,
        dir: Ino,
        path: &str,
    ) -> Result<()> {
        if target.starts_with('/') {
            // wasmtime-wasi refuses to create a link that could only escape.
            return Err(Errno::NotPermitted.into());
        }
        check_path(target, ctx.limits)?;
        let found = self.resolve_parent(ctx, dir, path)?;
        match (found.name, found.target) {
            (Some(name), None) => {
                self.add(ctx, found.parent, &name, Body::Symlink(target.into()))?;
                Ok(())
            }
            _ => Err(Errno::Exist.into()),
        }
    }

    pub(crate) fn readlink_at(&self, ctx: &Ctx<'_>, dir: Ino, path: &str) -> Result<Arc<str>> {
        let found = self.resolve_parent(ctx, dir, path)?;
        let (ino, kind) = found.existing()?;
        if kind != Kind::Symlink {
            return Err(Errno::Invalid.into());
        }
        let target = self.readlink(ctx.base, ino)?;
        if target.starts_with('/') {
            return Err(Errno::NotPermitted.into());
        }
        Ok(target)
    }

    pub(crate) fn stat_at(
        &self,
        ctx: &Ctx<'_>,
        dir: Ino,
        path: &str,
        follow: bool,
    ) -> Result<super::Stat> {
        if !follow && let Some(name) = single_name(path) {
            check_path(path, ctx.limits)?;
            if name.len() > ctx.limits.max_name_len {
                return Err(Errno::NameTooLong.into());
            }
            let (ino, _) = self.lookup(ctx.base, dir, name)?.ok_or(Errno::NoEntry)?;
            return self.stat(ctx.base, ino);
        }
        let found = self.resolve(ctx, dir, path, FinalLink::follow(follow))?;
        let (ino, kind) = found.existing()?;
        if found.trailing_slash && kind != Kind::Dir {
            return Err(Errno::NotDirectory.into());
        }
        self.stat(ctx.base, ino)
    }

    /// The inode at `path`, for `*-at` operations that act on an existing
    /// object (following a final symlink, or acting on it "via its parent").
    pub(crate) fn ino_at(&self, ctx: &Ctx<'_>, dir: Ino, path: &str, follow: bool) -> Result<Ino> {
        let found = if follow {
            self.resolve(ctx, dir, path, FinalLink::Follow)?
        } else {
            self.resolve_parent(ctx, dir, path)?
        };
        let (ino, kind) = found.existing()?;
        if found.trailing_slash && kind != Kind::Dir {
            return Err(Errno::NotDirectory.into());
        }
        Ok(ino)
    }

    pub(crate) fn remove_directory_at(
        &mut self,
        ctx: &mut Ctx<'_>,
        dir: Ino,
        path: &str,
    ) -> Result<()> {
        ctx.removing = true;
        let found = self.resolve_parent(ctx, dir, path)?;
        let (name, (ino, kind)) = match (found.name, found.target) {
            (None, _) => return Err(Errno::Invalid.into()),
            (Some(name), target) => (name, target.ok_or(Errno::NoEntry)?),
        };
        if kind != Kind::Dir {
            return Err(Errno::NotDirectory.into());
        }
        if !self.is_empty_dir(ctx.base, ino)? {
            return Err(Errno::NotEmpty.into());
        }
        self.unlink_entry(ctx, found.parent, &name.into(), ino)
    }

    pub(crate) fn unlink_file_at(&mut self, ctx: &mut Ctx<'_>, dir: Ino, path: &str) -> Result<()> {
        ctx.removing = true;
        let found = self.resolve_parent(ctx, dir, path)?;
        let (name, (ino, kind)) = match (found.name, found.target) {
            (None, _) => return Err(Errno::IsDirectory.into()),
            (Some(name), target) => (name, target.ok_or(Errno::NoEntry)?),
        };
        match kind {
            Kind::Dir => Err(Errno::IsDirectory.into()),
            _ => self.unlink_entry(ctx, found.parent, &name.into(), ino),
        }
    }

    /// Removes the name `name` → `ino` from `dir`; an inode left without
    /// names becomes an orphan, kept only while something holds it open.
    fn unlink_entry(&mut self, ctx: &mut Ctx<'_>, dir: Ino, name: &Name, ino: Ino) -> Result<()> {
        self.set_entry(ctx, dir, name, None)?;
        let node = self.node_mut(ctx, ino)?;
        node.links = node.links_without(dir, name);
        node.times.ctime = ctx.now;
        if node.links.is_empty() {
            self.orphan(ctx, ino);
        }
        Ok(())
    }

    pub(crate) fn link_at(
        &mut self,
        ctx: &mut Ctx<'_>,
        old_dir: Ino,
        old_path: &str,
        new_dir: Ino,
        new_path: &str,
    ) -> Result<()> {
        let old = self.resolve_parent(ctx, old_dir, old_path)?;
        let new = self.resolve_parent(ctx, new_dir, new_path)?;
        let (ino, kind) = old.existing()?;
        let name = match (new.name, new.target) {
            (Some(name), None) => name,
            _ => return Err(Errno::Exist.into()),
        };
        if kind == Kind::Dir {
            return Err(Errno::NotPermitted.into());
        }
        if name.len() > ctx.limits.max_name_len {
            return Err(Errno::NameTooLong.into());
        }
        let name: Name = name.into();
        let node = self.node_mut(ctx, ino)?;
        if node.links.len() as u64 >= ctx.limits.max_links {
            return Err(Errno::TooManyLinks.into());
        }
        node.links = node.links_with((new.parent, name.clone()));
        node.times.ctime = ctx.now;
        self.set_entry(ctx, new.parent, &name, Some((ino, kind)))
    }

    pub(crate) fn rename_at(
        &mut self,
        ctx: &mut Ctx<'_>,
        old_dir: Ino,
        old_path: &str,
        new_dir: Ino,
        new_path: &str,
    ) -> Result<()> {
        ctx.removing = true;
        let requires_dir = old_path.ends_with('/') || new_path.ends_with('/');
        let old = self.resolve_parent(ctx, old_dir, strip_trailing_slashes(old_path))?;
        let new = self.resolve_parent(ctx, new_dir, strip_trailing_slashes(new_path))?;
        let (Some(old_name), Some(new_name)) = (old.name, new.name) else {
            return Err(Errno::Busy.into());
        };
        let (src, src_kind) = old.target.ok_or(Errno::NoEntry)?;
        if requires_dir && src_kind != Kind::Dir {
            return Err(Errno::NotDirectory.into());
        }
        // Moving a directory into itself or below itself.
        if src_kind == Kind::Dir && self.is_ancestor_or_self(ctx, src, new.parent)? {
            return Err(Errno::Invalid.into());
        }
        if let Some((dst, dst_kind)) = new.target {
            // Replacing a directory that contains the source.
            if dst_kind == Kind::Dir && self.is_ancestor_or_self(ctx, dst, old.parent)? {
                return Err(Errno::NotEmpty.into());
            }
            if dst == src {
                return Ok(());
            }
            match (src_kind, dst_kind) {
                (Kind::Dir, Kind::Dir) if !self.is_empty_dir(ctx.base, dst)? => {
                    return Err(Errno::NotEmpty.into());
                }
                (Kind::Dir, Kind::Dir) => {}
                (Kind::Dir, _) => return Err(Errno::NotDirectory.into()),
                (_, Kind::Dir) => return Err(Errno::IsDirectory.into()),
                _ => {}
            }
        }
        let old_name: Name = old_name.into();
        let new_name: Name = match new_name {
            Cow::Borrowed(n) => n.into(),
            Cow::Owned(n) => n.into(),
        };
        if new_name.len() > ctx.limits.max_name_len {
            return Err(Errno::NameTooLong.into());
        }
        if let Some((dst, _)) = new.target {
            self.unlink_entry(ctx, new.parent, &new_name, dst)?;
        }
        self.set_entry(ctx, old.parent, &old_name, None)?;
        self.set_entry(ctx, new.parent, &new_name, Some((src, src_kind)))?;
        let node = self.node_mut(ctx, src)?;
        let links = node.links_without(old.parent, &old_name);
        node.links = links
            .iter()
            .cloned()
            .chain([(new.parent, new_name)])
            .collect();
        node.times.ctime = ctx.now;
        Ok(())
    }

    /// Whether `ancestor` is `ino` or one of its parent directories.
    fn is_ancestor_or_self(&self, ctx: &Ctx<'_>, ancestor: Ino, ino: Ino) -> Result<bool> {
        let mut cur = ino;
        loop {
            if cur == ancestor {
                return Ok(true);
            }
            let parent = match self.view(ctx.base, cur)? {
                View::Upper(node) => node.parent(),
                View::Base(b) => b.link.as_ref().map(|(p, _)| *p),
            };
            match parent {
                Some(p) => cur = p,
                None => return Ok(false),
            }
        }
    }

    /// Checks that a file may grow to `end` bytes.
    fn check_file_size(ctx: &Ctx<'_>, end: u64) -> Result<()> {
        if end > ctx.limits.max_file_size {
            return Err(Errno::FileTooLarge.into());
        }
        Ok(())
    }

    /// Writes at `offset`; returns how many bytes were written, which is
    /// fewer than `data.len()` when the request exceeds `Limits::max_io`.
    pub(crate) fn write(
        &mut self,
        ctx: &mut Ctx<'_>,
        ino: Ino,
        offset: u64,
        data: &Bytes,
    ) -> Result<usize> {
        let len = data
            .len()
            .min(ctx.limits.max_io.try_into().unwrap_or(usize::MAX));
        // A file may keep the caller's buffer as a chunk (see
        // `FileData::write`); a write cut short must not keep all of it.
        let data = &if len < data.len() && len as u64 <= CHUNK_SIZE {
            Bytes::copy_from_slice(&data[..len])
        } else {
            data.slice(..len)
        };
        let end = offset.checked_add(len as u64).ok_or(Errno::FileTooLarge)?;
        Self::check_file_size(ctx, end)?;
        if len == 0 {
            return match self.kind(ctx.base, ino)? {
                Kind::File => Ok(0),
                Kind::Dir => Err(Errno::IsDirectory.into()),
                Kind::Symlink => Err(Errno::Invalid.into()),
            };
        }
        // Check the quota before allocating; a failure later rolls back anyway.
        let cost = self.file_mut(ctx, ino)?.0.cost(offset, end, false);
        self.charge(ctx, &cost)?;
        let meter = self.meter.clone();
        let (file, times) = self.file_mut(ctx, ino)?;
        file.write(ino, ctx.base, &meter, offset, data)?;
        times.modified(ctx.now);
        Ok(len)
    }

    /// Appends at the current end of file; returns the offset written at and
    /// the count written.
    pub(crate) fn append(
        &mut self,
        ctx: &mut Ctx<'_>,
        ino: Ino,
        data: &Bytes,
    ) -> Result<(u64, usize)> {
        let offset = self.stat(ctx.base, ino)?.size;
        Ok((offset, self.write(ctx, ino, offset, data)?))
    }

    /// Makes `[offset, offset + len)` read as zeros; returns the count zeroed
    /// (cut at `Limits::max_io`).
    pub(crate) fn write_zeroes(
        &mut self,
        ctx: &mut Ctx<'_>,
        ino: Ino,
        offset: u64,
        len: u64,
    ) -> Result<u64> {
        let len = len.min(ctx.limits.max_io);
        let end = offset.checked_add(len).ok_or(Errno::FileTooLarge)?;
        Self::check_file_size(ctx, end)?;
        let cost = self.file_mut(ctx, ino)?.0.cost(offset, end, true);
        self.charge(ctx, &cost)?;
        let meter = self.meter.clone();
        let (file, times) = self.file_mut(ctx, ino)?;
        file.write_zeroes(ino, ctx.base, &meter, offset, len)?;
        if len > 0 {
            times.modified(ctx.now);
        }
        Ok(len)
    }

    /// Counts a write's cost against the fork's limits and the host's
    /// budget, before it allocates anything.
    fn charge(&mut self, ctx: &Ctx<'_>, cost: &Cost) -> Result<()> {
        self.meter.admit(&ctx.budget, cost.fresh, 0)?;
        self.usage.add_bytes(cost.growth, ctx.limits.max_bytes)?;
        Ok(())
    }

    pub(crate) fn set_size(&mut self, ctx: &mut Ctx<'_>, ino: Ino, size: u64) -> Result<()> {
        Self::check_file_size(ctx, size)?;
        let (file, times) = self.file_mut(ctx, ino)?;
        let before = file.allocated();
        file.set_size(size);
        times.modified(ctx.now);
        let freed = before - file.allocated();
        self.usage
            .add_bytes(-(freed as i64), ctx.limits.max_bytes)?;
        Ok(())
    }

    pub(crate) fn set_times(
        &mut self,
        ctx: &mut Ctx<'_>,
        ino: Ino,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<()> {
        if atime == SetTime::Keep && mtime == SetTime::Keep {
            // Still checks that the inode exists.
            self.view(ctx.base, ino)?;
            return Ok(());
        }
        let now = ctx.now;
        let node = self.node_mut(ctx, ino)?;
        let pick = |set: SetTime, old| match set {
            SetTime::Keep => old,
            SetTime::Now => now,
            SetTime::At(t) => t,
        };
        node.times.atime = pick(atime, node.times.atime);
        node.times.mtime = pick(mtime, node.times.mtime);
        node.times.ctime = now;
        Ok(())
    }

    /// The bytes of `[offset, offset + len)` (cut at end of file and at
    /// `Limits::max_io`) as shared slices.
    pub(crate) fn read_at(
        &self,
        ctx: &Ctx<'_>,
        ino: Ino,
        offset: u64,
        len: u64,
    ) -> Result<Vec<Bytes>> {
        let mut out = Vec::new();
        self.read(ctx.base, ino, offset, len.min(ctx.limits.max_io), &mut out)?;
        Ok(out)
    }
}
