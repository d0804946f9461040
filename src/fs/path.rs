//! Path resolution with WASI's confinement rules.
//!
//! A path is resolved relative to a directory inode, one component at a time,
//! keeping the stack of directories walked so that `..` steps back down that
//! stack instead of following a parent pointer. Leaving the starting
//! directory — an absolute path, a `..` with nothing left to pop, a symlink
//! whose target does either — is rejected with `NotPermitted`, not clamped,
//! exactly as wasmtime-wasi (cap-std's `RESOLVE_BENEATH` semantics) does.
//! Because every path-taking operation resolves through [`resolve`],
//! confinement is a property of the resolver, not of each caller.
//!
//! The shape mirrors cap-primitives' manual resolver: a worklist of
//! components, symlink targets pushed onto it as they are met (at most
//! `Limits::max_symlinks` of them, then `Loop`), and a trailing `/` that
//! demands a directory and forces a final symlink to be followed.

use std::borrow::Cow;

use super::base::Base;
use super::error::{Errno, Result};
use super::limits::Limits;
use super::node::{Ino, Kind};
use super::tree::Tree;

/// Where a path led.
#[derive(Debug)]
pub(crate) struct Found<'p> {
    /// The directory holding the final component (for a path ending in `.`
    /// or `..`, the directory the path names).
    pub parent: Ino,
    /// The final component, or `None` when the path ends in `.` or `..`.
    pub name: Option<Cow<'p, str>>,
    /// What the final component names, if it exists.
    pub target: Option<(Ino, Kind)>,
    /// The path (or the last symlink expanded at its end) ended in `/`.
    pub trailing_slash: bool,
}

impl Found<'_> {
    /// The existing object, or `NoEntry`.
    pub fn existing(&self) -> Result<(Ino, Kind)> {
        self.target.ok_or(Errno::NoEntry.into())
    }
}

enum Component<'p> {
    Root,
    Current,
    Parent,
    Name(Cow<'p, str>),
}

/// Splits a path into components, last one first (a worklist to pop from).
fn push_components<'p>(work: &mut Vec<Component<'p>>, path: Cow<'p, str>) {
    let start = work.len();
    let absolute = path.starts_with('/');
    let component = |c: &str| match c {
        "." => Component::Current,
        ".." => Component::Parent,
        _ => Component::Name(Cow::Owned(c.to_owned())),
    };
    match path {
        Cow::Borrowed(p) => work.extend(p.split('/').filter(|c| !c.is_empty()).map(|c| match c {
            "." => Component::Current,
            ".." => Component::Parent,
            _ => Component::Name(Cow::Borrowed(c)),
        })),
        Cow::Owned(p) => work.extend(p.split('/').filter(|c| !c.is_empty()).map(component)),
    }
    if absolute {
        work.insert(start, Component::Root);
    }
    work[start..].reverse();
}

/// Checks a path argument against the limits before any lookup.
pub(crate) fn check_path(path: &str, limits: &Limits) -> Result<()> {
    if path.is_empty() {
        return Err(Errno::NoEntry.into());
    }
    if path.len() > limits.max_path_len {
        return Err(Errno::NameTooLong.into());
    }
    if path.contains('\0') {
        return Err(Errno::Invalid.into());
    }
    Ok(())
}

/// What [`resolve`] does with a symlink in the final position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FinalLink {
    /// Follow it (`stat`, `open` without `O_NOFOLLOW`).
    Follow,
    /// Return it, unless the path ends in `/`, which forces it to be followed.
    Keep,
    /// Follow it as `open` with `O_CREAT` does: Linux refuses a final
    /// component that carries a slash (`EISDIR`) before looking it up, so a
    /// symlink there is returned unfollowed, with `trailing_slash` set.
    Create,
}

impl FinalLink {
    pub(crate) fn follow(follow: bool) -> FinalLink {
        if follow {
            FinalLink::Follow
        } else {
            FinalLink::Keep
        }
    }
}

/// Resolves `path` relative to directory `start`. Every component but the
/// last must lead to a directory (symlinks followed); the last is looked up,
/// and a symlink there is handled as `final_link` says.
pub(crate) fn resolve<'p>(
    tree: &Tree,
    base: &dyn Base,
    limits: &Limits,
    start: Ino,
    path: &'p str,
    final_link: FinalLink,
) -> Result<Found<'p>> {
    check_path(path, limits)?;
    if tree.kind(base, start)? != Kind::Dir {
        return Err(Errno::NotDirectory.into());
    }
    let mut trailing_slash = path.ends_with('/');
    let mut work = Vec::new();
    push_components(&mut work, Cow::Borrowed(path));
    let mut dirs: Vec<Ino> = Vec::new();
    let mut cur = start;
    let mut symlinks = 0u32;
    let mut steps = 0usize;
    while let Some(component) = work.pop() {
        steps += 1;
        if steps > limits.max_path_depth {
            return Err(Errno::NameTooLong.into());
        }
        let name = match component {
            Component::Root => return Err(Errno::NotPermitted.into()),
            Component::Current => continue,
            Component::Parent => {
                cur = dirs.pop().ok_or(Errno::NotPermitted)?;
                continue;
            }
            Component::Name(name) => name,
        };
        if name.len() > limits.max_name_len {
            return Err(Errno::NameTooLong.into());
        }
        let last = work.is_empty();
        let entry = tree.lookup(base, cur, &name)?;
        let follow_final = match final_link {
            FinalLink::Follow => true,
            FinalLink::Keep => trailing_slash,
            FinalLink::Create => !trailing_slash,
        };
        match entry {
            Some((ino, Kind::Symlink)) if !last || follow_final => {
                symlinks += 1;
                if symlinks > limits.max_symlinks {
                    return Err(Errno::Loop.into());
                }
                let target = tree.readlink(base, ino)?;
                if target.is_empty() {
                    return Err(Errno::NoEntry.into());
                }
                if last {
                    trailing_slash |= target.ends_with('/');
                }
                check_path(&target, limits)?;
                push_components(&mut work, Cow::Owned(target.to_string()));
                if work.is_empty() {
                    // A target of only slashes or dots: it names `cur` itself.
                    continue;
                }
            }
            _ if last => {
                return Ok(Found {
                    parent: cur,
                    name: Some(name),
                    target: entry,
                    trailing_slash,
                });
            }
            Some((ino, Kind::Dir)) => {
                dirs.push(cur);
                cur = ino;
            }
            Some(_) => return Err(Errno::NotDirectory.into()),
            None => return Err(Errno::NoEntry.into()),
        }
    }
    // The path ended in `.` or `..` (possibly via a symlink): it names `cur`.
    Ok(Found {
        parent: cur,
        name: None,
        target: Some((cur, Kind::Dir)),
        trailing_slash,
    })
}

/// Resolves `path` the way POSIX `*at` calls that act on a name (rather
/// than on an object) do — cap-std's "via parent" operations: the final
/// component is not followed; but a path that ends in `/`, `.` or `..` names
/// a directory to act on as `.`, which is returned with `name: None`.
pub(crate) fn resolve_parent<'p>(
    tree: &Tree,
    base: &dyn Base,
    limits: &Limits,
    start: Ino,
    path: &'p str,
) -> Result<Found<'p>> {
    let last = path.rsplit('/').find(|c| !c.is_empty());
    let names_a_dir = path.ends_with('/') || matches!(last, Some(".") | Some(".."));
    if !names_a_dir || path.starts_with('/') && last.is_none() {
        return resolve(tree, base, limits, start, path, FinalLink::Keep);
    }
    let found = resolve(tree, base, limits, start, path, FinalLink::Follow)?;
    match found.target {
        Some((ino, Kind::Dir)) => Ok(Found {
            parent: ino,
            name: None,
            target: Some((ino, Kind::Dir)),
            trailing_slash: true,
        }),
        Some(_) => Err(Errno::NotDirectory.into()),
        None => Err(Errno::NoEntry.into()),
    }
}

/// The single plain name a path consists of, as Rust's `Path::components`
/// sees it (`f`, `f/`, `f/.`, but not `./f` or `..`). wasmtime-wasi stats
/// such a path without following with one `fstatat` on that name, ignoring a
/// trailing `/`; matching that keeps guests' observations identical.
pub(crate) fn single_name(path: &str) -> Option<&str> {
    if path.starts_with('/') || path.starts_with("./") || path == "." {
        return None;
    }
    let mut names = path.split('/').filter(|c| !c.is_empty() && *c != ".");
    match (names.next(), names.next()) {
        (Some(name), None) if name != ".." => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::base::MemBase;

    fn setup() -> (Tree, MemBase) {
        let base = MemBase::builder()
            .file("a/b/file", &b"x"[..])
            .symlink("a/up", "..")
            .symlink("a/escape", "../..")
            .symlink("a/etc", "/etc")
            .symlink("a/loop1", "loop2")
            .symlink("a/loop2", "loop1")
            .symlink("a/tofile", "b/file")
            .symlink("a/todir", "b/")
            .build();
        (Tree::new(&base, Default::default()), base)
    }

    fn go(path: &str, follow: bool) -> Result<(Option<String>, Option<Kind>)> {
        let (tree, base) = setup();
        let found = resolve(
            &tree,
            &base,
            &Limits::default(),
            tree.root(),
            path,
            FinalLink::follow(follow),
        )?;
        Ok((
            found.name.map(|n| n.into_owned()),
            found.target.map(|t| t.1),
        ))
    }

    fn errno(path: &str) -> Errno {
        go(path, true).unwrap_err().errno().unwrap()
    }

    #[test]
    fn plain_paths() {
        assert_eq!(
            go("a/b/file", true).unwrap(),
            (Some("file".into()), Some(Kind::File))
        );
        assert_eq!(go("a//b/./file", true).unwrap().1, Some(Kind::File));
        assert_eq!(go("a/b/new", true).unwrap(), (Some("new".into()), None));
        assert_eq!(go("a/b/..", true).unwrap(), (None, Some(Kind::Dir)));
        assert_eq!(go(".", true).unwrap(), (None, Some(Kind::Dir)));
        assert_eq!(errno(""), Errno::NoEntry);
        assert_eq!(errno("a/missing/x"), Errno::NoEntry);
        assert_eq!(errno("a/b/file/x"), Errno::NotDirectory);
    }

    #[test]
    fn confinement() {
        assert_eq!(errno(".."), Errno::NotPermitted);
        assert_eq!(errno("a/../../x"), Errno::NotPermitted);
        assert_eq!(errno("/a"), Errno::NotPermitted);
        assert_eq!(errno("a/etc"), Errno::NotPermitted);
        assert_eq!(errno("a/etc/passwd"), Errno::NotPermitted);
        assert_eq!(errno("a/escape"), Errno::NotPermitted);
        assert_eq!(errno("a/escape/x"), Errno::NotPermitted);
        // Staying inside is fine, even through `..`.
        assert_eq!(go("a/up/a/b/file", true).unwrap().1, Some(Kind::File));
        assert_eq!(go("a/../a/b/file", true).unwrap().1, Some(Kind::File));
        // Not following the final symlink never looks at its target.
        assert_eq!(go("a/etc", false).unwrap().1, Some(Kind::Symlink));
    }

    #[test]
    fn symlinks() {
        assert_eq!(errno("a/loop1"), Errno::Loop);
        assert_eq!(errno("a/loop1/x"), Errno::Loop);
        assert_eq!(go("a/tofile", true).unwrap().1, Some(Kind::File));
        assert_eq!(go("a/tofile", false).unwrap().1, Some(Kind::Symlink));
        // A trailing slash follows a final symlink even when not asked to.
        assert_eq!(go("a/todir/", false).unwrap().1, Some(Kind::Dir));
        assert_eq!(go("a/todir", false).unwrap().1, Some(Kind::Symlink));
    }

    #[test]
    fn limits() {
        let (tree, base) = setup();
        let limits = Limits {
            max_name_len: 4,
            max_path_len: 10,
            max_path_depth: 3,
            ..Limits::default()
        };
        let err = |p| {
            resolve(&tree, &base, &limits, tree.root(), p, FinalLink::Follow)
                .unwrap_err()
                .errno()
                .unwrap()
        };
        assert_eq!(err("abcdefghijk"), Errno::NameTooLong);
        assert_eq!(err("abcde"), Errno::NameTooLong);
        assert_eq!(err("a/./././."), Errno::NameTooLong);
        assert_eq!(err("a\0"), Errno::Invalid);
    }
}
