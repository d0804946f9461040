//! Property test of commit: two forks of one parent change it at random;
//! the first commit is applied as is, and the second either applies exactly
//! its own changed paths on top of the first, or is refused with nothing
//! applied. Inode numbers of the two forks never collide.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use strata::fs::{Change, CommitError, ForkId, Vfs};

mod common;
use common::tree_ops::{Op, apply, base, op};
use common::{Entry, contents, snapshot};

/// Commit outcomes seen over a run, to check the test exercises both.
#[derive(Default, Debug)]
struct Seen {
    merged: u32,
    conflicts: u32,
}

fn case(ops_a: &[Op], ops_b: &[Op], seen: &mut Seen) -> Result<(), TestCaseError> {
    let mut vfs = Vfs::new(Arc::new(base()));
    let a = vfs.fork(ForkId::ROOT).unwrap();
    let b = vfs.fork(ForkId::ROOT).unwrap();
    let root = vfs.open_root(ForkId::ROOT).unwrap();
    for op in ops_a {
        apply(&mut vfs, a, root, op);
    }
    for op in ops_b {
        apply(&mut vfs, b, root, op);
    }
    let snap_a = snapshot(&vfs, a, root);
    let snap_b = snapshot(&vfs, b, root);
    let diff_b: Vec<Change> = vfs.diff(b).unwrap();

    vfs.commit(a).unwrap();
    prop_assert_eq!(&snapshot(&vfs, ForkId::ROOT, root), &snap_a, "first commit");

    match vfs.commit(b) {
        Ok(()) => {
            // Exactly b's changed paths, as b has them, on top of a's result.
            let mut want = contents(&snap_a);
            let in_b = contents(&snap_b);
            for change in &diff_b {
                match in_b.get(&change.path) {
                    Some(entry) => want.insert(change.path.clone(), entry.clone()),
                    None => want.remove(&change.path),
                };
            }
            let got = contents(&snapshot(&vfs, ForkId::ROOT, root));
            // Link counts of files untouched by b may differ if a changed them.
            let strip = |m: std::collections::BTreeMap<String, Entry>| -> Vec<(String, Entry)> {
                m.into_iter()
                    .map(|(p, e)| match e {
                        Entry::File(d, _) => (p, Entry::File(d, 0)),
                        e => (p, e),
                    })
                    .collect()
            };
            prop_assert_eq!(strip(got), strip(want), "merged tree");
            if !diff_b.is_empty() && !vfs.diff(ForkId::ROOT).unwrap().is_empty() {
                seen.merged += 1;
            }
        }
        Err(CommitError::Conflict(paths)) => {
            prop_assert!(!paths.is_empty());
            prop_assert_eq!(
                &snapshot(&vfs, ForkId::ROOT, root),
                &snap_a,
                "a refused commit applied something"
            );
            prop_assert_eq!(
                &snapshot(&vfs, b, root),
                &snap_b,
                "a refused commit changed the fork"
            );
            seen.conflicts += 1;
        }
        Err(e) => prop_assert!(false, "commit failed: {:?}", e),
    }
    Ok(())
}

#[test]
fn second_commit_applies_exactly_its_changes_or_nothing() {
    let mut runner = TestRunner::new(Config {
        cases: 1500,
        failure_persistence: None,
        ..Config::default()
    });
    let seen = std::cell::RefCell::new(Seen::default());
    let strategy = (
        prop::collection::vec(op(), 0..12),
        prop::collection::vec(op(), 0..12),
    );
    runner
        .run(&strategy, |(a, b)| case(&a, &b, &mut seen.borrow_mut()))
        .unwrap();
    // Both outcomes must be common, or the property says little.
    let seen = seen.into_inner();
    eprintln!("{seen:?}");
    assert!(seen.merged > 100 && seen.conflicts > 100, "{seen:?}");
}
