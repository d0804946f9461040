//! Concurrent guests, each on its own fork of one base image.
//!
//! Every "guest" here is a tokio task doing real file work through a
//! `VfsHandle`: it reads the shared input, writes its own output, uses a
//! scratch directory, renames and deletes. (Until the WASI bindings land,
//! the guests are host tasks; the filesystem they drive is the real one.)
//! At the end the example prints each guest's results, the diff of one
//! guest's fork, commits that fork into the base, and shows that the other
//! guests never saw any of it.
//!
//! Run: `cargo run --example concurrent_guests -- --guests 32`

use std::time::Instant;

use bytes::Bytes;
use strata::actor::{Error, VfsBuilder, VfsHandle};
use strata::fs::{ChangeKind, ForkId, MemBase, OpenFlags};

const CREATE: OpenFlags = OpenFlags {
    create: true,
    directory: false,
    exclusive: false,
    truncate: true,
};

fn base_image() -> MemBase {
    let text = "the quick brown fox jumps over the lazy dog\n".repeat(200);
    MemBase::builder()
        .file("etc/app.conf", &b"mode=count\n"[..])
        .file("data/input.txt", text.into_bytes())
        .dir("out")
        .dir("tmp")
        .build()
}

struct Report {
    guest: usize,
    fork: ForkId,
    words: usize,
    bytes_written: usize,
    files_seen: usize,
}

/// One guest's work: count words in the input, write a report, keep a
/// scratch file, rename it into place, clean up.
async fn guest(vfs: VfsHandle, guest: usize) -> Result<Report, Error> {
    let fork = vfs.fork(ForkId::ROOT).await?;
    let root = vfs.open_root(fork).await?;
    let input = vfs.read_file(fork, "data/input.txt").await?;
    let words = input
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .count();

    vfs.create_dir_at(fork, root.ino(), &format!("tmp/g{guest}"))
        .await?;
    let scratch = vfs
        .open_at(
            fork,
            root.ino(),
            &format!("tmp/g{guest}/draft"),
            true,
            CREATE,
            true,
        )
        .await?;
    let mut written = 0;
    for line in 0..guest % 7 + 1 {
        let text = Bytes::from(format!("guest {guest} line {line}: {words} words\n"));
        written += vfs.append(fork, scratch.ino(), text).await?.1;
    }
    drop(scratch);
    vfs.rename_at(
        fork,
        root.ino(),
        &format!("tmp/g{guest}/draft"),
        root.ino(),
        &format!("out/report-{guest}.txt"),
    )
    .await?;
    vfs.remove_dir_at(fork, root.ino(), &format!("tmp/g{guest}"))
        .await?;
    vfs.write_file(
        fork,
        "etc/app.conf",
        format!("mode=count\nguest={guest}\n").as_bytes(),
    )
    .await?;

    let out = vfs
        .open_at(fork, root.ino(), "out", true, OpenFlags::default(), false)
        .await?;
    let files_seen = vfs.read_dir(fork, out.ino(), None, 1000).await?.len();
    Ok(Report {
        guest,
        fork,
        words,
        bytes_written: written,
        files_seen,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guests: usize = match std::env::args().skip_while(|a| a != "--guests").nth(1) {
        Some(n) => n.parse()?,
        None => 32,
    };
    let vfs = VfsBuilder::new().image(base_image()).spawn();

    let start = Instant::now();
    let tasks: Vec<_> = (0..guests)
        .map(|g| tokio::spawn(guest(vfs.clone(), g)))
        .collect();
    let mut reports = Vec::new();
    for task in tasks {
        reports.push(task.await??);
    }
    let elapsed = start.elapsed();

    println!("{guests} guests ran concurrently in {elapsed:.2?}, each on its own fork:");
    for r in &reports {
        println!(
            "  guest {:>3} (fork {:>3}): {} words counted, {:>3} bytes written, sees {} file(s) in /out",
            r.guest, r.fork.0, r.words, r.bytes_written, r.files_seen
        );
    }

    let first = &reports[0];
    println!("\ndiff of guest {}'s fork:", first.guest);
    for change in vfs.diff(first.fork).await? {
        let kind = match change.kind {
            ChangeKind::Created => "created ",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted ",
        };
        println!("  {kind} {}", change.path);
    }

    vfs.commit(first.fork).await?;
    let report = format!("out/report-{}.txt", first.guest);
    println!("\ncommitted guest {}'s fork into the base:", first.guest);
    println!(
        "  base now has /{report}: {:?}",
        String::from_utf8(vfs.read_file(ForkId::ROOT, &report).await?)?
            .lines()
            .next()
    );
    println!(
        "  base /etc/app.conf: {:?}",
        String::from_utf8(vfs.read_file(ForkId::ROOT, "etc/app.conf").await?)?
    );
    if let Some(other) = reports.get(1) {
        let seen = vfs.read_file(other.fork, &report).await;
        println!(
            "  guest {} (forked before the commit) still sees /{report}: {}",
            other.guest,
            if seen.is_ok() { "yes" } else { "no" }
        );
        println!(
            "  guest {} still sees its own /etc/app.conf: {:?}",
            other.guest,
            String::from_utf8(vfs.read_file(other.fork, "etc/app.conf").await?)?
        );
    }
    // The others' conflicting edits to /etc/app.conf cannot be committed now.
    if let Some(other) = reports.get(1) {
        match vfs.commit(other.fork).await {
            Err(Error::Conflict(paths)) => println!(
                "  committing guest {} too: refused, conflict on {paths:?}",
                other.guest
            ),
            other_result => println!("  committing guest {} too: {other_result:?}", other.guest),
        }
    }
    for r in reports.iter().skip(1) {
        vfs.discard(r.fork).await?;
    }
    vfs.shutdown().await;
    Ok(())
}
