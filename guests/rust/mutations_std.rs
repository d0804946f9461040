// Benchmark guest: one kind of file operation, many times, in a directory of
// N files — what `benches/mutations.rs` measures. A Rust `std::fs` program
// built with Debian's rustc 1.63 for wasm32-wasi, run as a wasip1 module;
// `guests/c/mutations.c` is the same program in C and must print the same.
//
// Usage: mutations OP DIR N K
//   prepare   make DIR with N files f0..f{N-1} of 4 KiB (K is ignored)
//   create    K times: fs::write a new 4 KiB file              (then unlink it)
//   overwrite K times: fs::write an existing file (O_TRUNC)
//   append    K times: open O_APPEND, write 4 KiB, close      (then truncate back)
//   rename    K renames within DIR, f{j} <-> g{j} back and forth
//   mkdir     K times: mkdir                                  (then rmdir)
//   rmdir     K times: rmdir                                  (after mkdir)
//   unlink    K times: unlink                                 (after creating the file)
//   read      K times: fs::read a whole 4 KiB file
//   stat      K times: fs::metadata
//   readdir   K full listings of DIR (N entries each)
//   unpack    K times: write a tree of N files in nested directories (DIR/t)
//   remove    K times: delete such a tree recursively             (after unpacking it)
//   timer     K times: nothing, timed as one operation is (the timer's own cost)
//
// Every operation runs with DIR at N entries: what one adds, the untimed
// part takes away again (and the other way round). Only the operations
// named are timed, with the monotonic clock; the last line printed is
// `ns <total>`, the time they took together. Before it, one line says what
// was done, the same on every filesystem. Any failure exits non-zero.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PAGE: usize = 4096;

/// Time spent in the operations being measured, and nothing else.
struct Timer(Duration);

impl Timer {
    fn time<T>(&mut self, op: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = op();
        self.0 += start.elapsed();
        out
    }
}

fn check<T>(what: &str, path: &Path, r: std::io::Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{} {}: {}", what, path.display(), e);
            std::process::exit(1)
        }
    }
}

/// The tree `unpack` writes: 10 directories of 10 directories, the N files
/// spread over those 100, sizes from 1 to 7 KiB (4 KiB on average).
fn tree_file(root: &Path, i: usize) -> (PathBuf, usize) {
    let leaf = i % 100;
    let path = root
        .join(format!("d{}", leaf / 10))
        .join(format!("s{}", leaf % 10))
        .join(format!("file{}.c", i));
    (path, 1024 * (1 + (i * 7919) % 7))
}

fn unpack(root: &Path, files: usize, data: &[u8]) {
    check("mkdir", root, fs::create_dir(root));
    for d in 0..10 {
        let top = root.join(format!("d{}", d));
        check("mkdir", &top, fs::create_dir(&top));
        for s in 0..10 {
            let sub = top.join(format!("s{}", s));
            check("mkdir", &sub, fs::create_dir(&sub));
            let leaf = d * 10 + s;
            for i in (leaf..files).step_by(100) {
                let (path, size) = tree_file(root, i);
                check("write", &path, fs::write(&path, &data[..size]));
            }
        }
    }
}

/// Deletes `dir` and everything under it, listing each directory whole
/// before removing from it, as `rm -r` does. (`fs::remove_dir_all` removes
/// while it lists; wasmtime-wasi's p1 readdir cookies count entries, so
/// there it skips entries and fails with ENOTEMPTY.)
fn remove_tree(dir: &Path) {
    let listing = check("read_dir", dir, fs::read_dir(dir));
    let mut entries = Vec::new();
    for entry in listing {
        let entry = check("read_dir", dir, entry);
        let is_dir = check("file_type", dir, entry.file_type()).is_dir();
        entries.push((entry.path(), is_dir));
    }
    for (path, is_dir) in entries {
        if is_dir {
            remove_tree(&path);
        } else {
            check("unlink", &path, fs::remove_file(&path));
        }
    }
    check("rmdir", dir, fs::remove_dir(dir));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: mutations OP DIR N K");
        std::process::exit(2);
    }
    let (op, dir) = (args[1].as_str(), Path::new(&args[2]));
    let n: usize = args[3].parse().expect("N");
    let k: usize = args[4].parse().expect("K");
    let data: Vec<u8> = (0..8 * 1024).map(|i| (i % 251) as u8).collect();
    let page = &data[..PAGE];
    let f = |j: usize| dir.join(format!("f{}", j));
    let mut timer = Timer(Duration::ZERO);
    let mut summary = String::from("ok");

    match op {
        "prepare" => {
            check("mkdir", dir, fs::create_dir_all(dir));
            for j in 0..n {
                check("write", &f(j), fs::write(f(j), page));
            }
        }
        "create" => {
            for i in 0..k {
                let path = dir.join(format!("c{}", i));
                check("write", &path, timer.time(|| fs::write(&path, page)));
                check("unlink", &path, fs::remove_file(&path));
            }
        }
        "overwrite" => timer.time(|| {
            for i in 0..k {
                check("write", &f(i % n), fs::write(f(i % n), page));
            }
        }),
        "append" => {
            for i in 0..k {
                let path = f(i % n);
                timer.time(|| {
                    let mut file = check(
                        "open",
                        &path,
                        OpenOptions::new().append(true).open(&path),
                    );
                    check("append", &path, file.write_all(page));
                });
                let file = check("open", &path, OpenOptions::new().write(true).open(&path));
                check("truncate", &path, file.set_len(PAGE as u64));
            }
        }
        "rename" => {
            let g = |j: usize| dir.join(format!("g{}", j));
            timer.time(|| {
                for i in 0..k {
                    let j = i % n;
                    let (from, to) = if (i / n) % 2 == 0 { (f(j), g(j)) } else { (g(j), f(j)) };
                    check("rename", &from, fs::rename(&from, &to));
                }
            });
            // Files renamed an odd number of times go back to their names.
            for j in 0..n.min(k) {
                if (k / n + usize::from(j < k % n)) % 2 == 1 {
                    check("rename", &g(j), fs::rename(g(j), f(j)));
                }
            }
        }
        "mkdir" => {
            for i in 0..k {
                let path = dir.join(format!("m{}", i));
                check("mkdir", &path, timer.time(|| fs::create_dir(&path)));
                check("rmdir", &path, fs::remove_dir(&path));
            }
        }
        "rmdir" => {
            for i in 0..k {
                let path = dir.join(format!("m{}", i));
                check("mkdir", &path, fs::create_dir(&path));
                check("rmdir", &path, timer.time(|| fs::remove_dir(&path)));
            }
        }
        "unlink" => {
            for i in 0..k {
                let path = dir.join(format!("u{}", i));
                check("write", &path, fs::write(&path, page));
                check("unlink", &path, timer.time(|| fs::remove_file(&path)));
            }
        }
        "read" | "stat" => {
            let mut bytes = 0;
            timer.time(|| {
                for i in 0..k {
                    let path = f(i % n);
                    bytes += match op {
                        "read" => check("read", &path, fs::read(&path)).len() as u64,
                        _ => check("stat", &path, fs::metadata(&path)).len(),
                    };
                }
            });
            summary = format!("{} bytes", bytes);
        }
        "readdir" => {
            let mut entries = 0;
            timer.time(|| {
                for _ in 0..k {
                    for entry in check("read_dir", dir, fs::read_dir(dir)) {
                        let entry = check("read_dir", dir, entry);
                        check("file_type", dir, entry.file_type());
                        entries += 1;
                    }
                }
            });
            if entries != n * k {
                eprintln!("readdir: {} entries, expected {}", entries, n * k);
                std::process::exit(1);
            }
            summary = format!("{} entries", entries);
        }
        "timer" => {
            for _ in 0..k {
                timer.time(|| ());
            }
        }
        "unpack" => {
            let root = dir.join("t");
            for _ in 0..k {
                timer.time(|| unpack(&root, n, &data));
                remove_tree(&root);
            }
        }
        "remove" => {
            let root = dir.join("t");
            for _ in 0..k {
                unpack(&root, n, &data);
                timer.time(|| remove_tree(&root));
            }
        }
        _ => {
            eprintln!("unknown op {}", op);
            std::process::exit(2);
        }
    }
    println!("{} {} {}: {}", op, n, k, summary);
    println!("ns {}", timer.0.as_nanos());
}
