// A Rust guest using std::fs, built with Debian's rustc 1.63 for wasm32-wasi
// (an old wasi-libc) and run as a wasip1 module. Between file operations it
// grows its heap by megabytes — what breaks the preview1 component adapter
// under old wasi-libc, and must work on Strata's native p1.
//
// Prints a transcript, one line per step. Usage: stdfs [ROOT [cleanup]]
// With `cleanup`, removes what the first run left, with remove_dir_all.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

fn kind(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "NotFound".into(),
        ErrorKind::AlreadyExists => "AlreadyExists".into(),
        ErrorKind::PermissionDenied => "PermissionDenied".into(),
        _ => match e.raw_os_error() {
            Some(code) => format!("os error {}", code),
            None => format!("{:?}", e.kind()),
        },
    }
}

fn show<T: std::fmt::Debug>(what: &str, r: std::io::Result<T>) {
    match r {
        Ok(v) => println!("{}: ok {:?}", what, v),
        Err(e) => println!("{}: {}", what, kind(&e)),
    }
}

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let p = |s: &str| -> PathBuf { root.join(s) };
    if std::env::args().nth(2).as_deref() == Some("cleanup") {
        show("remove_dir_all work", fs::remove_dir_all(p("work")));
        show("metadata work", fs::metadata(p("work")).map(|m| m.is_dir()));
        println!("done");
        return;
    }

    show("create_dir_all work/a/b", fs::create_dir_all(p("work/a/b")));
    show("write work/a/b/hello.txt", fs::write(p("work/a/b/hello.txt"), "hello from std::fs\n"));
    show("read_to_string", fs::read_to_string(p("work/a/b/hello.txt")));

    // Grow the heap between file operations.
    let mut heap: Vec<Vec<u8>> = Vec::new();
    for i in 0..8 {
        heap.push(vec![i as u8; 1 << 20]);
        show("metadata after growing heap", fs::metadata(p("work/a/b/hello.txt")).map(|m| m.len()));
    }
    let big: Vec<u8> = (0..(3 << 20)).map(|i| (i % 251) as u8).collect();
    show("write 3 MiB", fs::write(p("work/big.bin"), &big));
    let back = fs::read(p("work/big.bin")).unwrap_or_default();
    println!("read back 3 MiB: equal={} len={}", back == big, back.len());
    drop(heap);

    let mut f = OpenOptions::new().append(true).open(p("work/a/b/hello.txt")).unwrap();
    show("append", f.write_all(b"appended line\n"));
    drop(f);
    let mut f = fs::File::open(p("work/a/b/hello.txt")).unwrap();
    show("seek to 6", f.seek(SeekFrom::Start(6)));
    let mut rest = String::new();
    show("read rest", f.read_to_string(&mut rest).map(|_| rest.clone()));
    drop(f);

    show("rename", fs::rename(p("work/a/b/hello.txt"), p("work/renamed.txt")));
    show("read renamed", fs::read_to_string(p("work/renamed.txt")));
    show("read old name", fs::read_to_string(p("work/a/b/hello.txt")));
    show("copy", fs::copy(p("work/renamed.txt"), p("work/copy.txt")));
    show("hard_link", fs::hard_link(p("work/copy.txt"), p("work/link.txt")));
    show("create_dir existing", fs::create_dir(p("work/a")));
    show("remove_dir non-empty", fs::remove_dir(p("work/a")));
    show("remove_file a dir", fs::remove_file(p("work/a")));
    show("open missing", fs::File::open(p("work/nope")));
    show("escape with ..", fs::read(Path::new("../../etc/passwd")));

    let mut names: Vec<String> = fs::read_dir(p("work"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| {
            let t = e.file_type().map(|t| if t.is_dir() { "/" } else { "" }).unwrap_or("?");
            format!("{}{}", e.file_name().to_string_lossy(), t)
        }).collect())
        .unwrap_or_default();
    names.sort();
    println!("read_dir work: {:?}", names);
    println!("done");
}
