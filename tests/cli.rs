//! The `strata run` command, as a user runs it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::guest::guest;

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A host directory with some content, and a way to tell if it changed.
fn host_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/host.txt"), b"from the host").unwrap();
    dir
}

fn wat(dir: &Path, name: &str, source: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn runs_a_p1_module_on_an_overlay_and_leaves_the_host_dir_alone() {
    let Some(stdfs) = guest("stdfs") else { return };
    let dir = host_dir();
    let before = common::host_tree(dir.path());
    let mount = format!("{}::/", dir.path().display());
    let out = strata(&["run", "--dir", &mount, stdfs.to_str().unwrap(), "/"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // The guest grew its heap by megabytes between file operations.
    assert!(stdout.contains("read back 3 MiB: equal=true"), "{stdout}");
    assert!(stdout.ends_with("done\n"));
    assert_eq!(
        common::host_tree(dir.path()),
        before,
        "the host directory changed"
    );
}

#[test]
fn runs_a_component_on_an_overlay_and_leaves_the_host_dir_alone() {
    let Some(fsops) = guest("fsops") else { return };
    let component = common::guest::component_bytes(&fsops);
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("fsops.component.wasm");
    std::fs::write(&path, component).unwrap();
    let dir = host_dir();
    let before = common::host_tree(dir.path());
    let mount = format!("{}::/", dir.path().display());
    let out = strata(&["run", "--dir", &mount, path.to_str().unwrap(), "/"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("rename a.txt b.txt: ok"), "{stdout}");
    assert!(
        stdout.contains("ls root: ok sub"),
        "the host's files are visible: {stdout}"
    );
    assert_eq!(
        common::host_tree(dir.path()),
        before,
        "the host directory changed"
    );
}

#[test]
fn runs_a_wasi_0_3_component_on_an_overlay() {
    let Some(p3fs) = common::guest::p2_guest("p3fs") else {
        return;
    };
    let component = common::guest::p3_component_bytes(&p3fs);
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("p3fs.component.wasm");
    std::fs::write(&path, component).unwrap();
    let dir = host_dir();
    let before = common::host_tree(dir.path());
    let mount = format!("{}::/", dir.path().display());
    let out = strata(&["run", "--dir", &mount, path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("r1 read 1 (own cursor): 1 \" \""),
        "{stdout}"
    );
    let listing = stdout.lines().find(|l| l.starts_with("list /:"));
    assert!(
        listing.is_some_and(|l| l.contains(" sub(directory)")),
        "the host's files are visible: {stdout}"
    );
    assert!(stdout.ends_with("done\n"), "{stdout}");
    assert_eq!(
        common::host_tree(dir.path()),
        before,
        "the host directory changed"
    );
}

#[test]
fn each_dir_is_its_own_mount() {
    let Some(mounts) = guest("mounts") else {
        return;
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ma, mb) = (
        format!("{}::/a", a.path().display()),
        format!("{}::/b", b.path().display()),
    );
    let out = strata(&[
        "run",
        "--dir",
        &ma,
        "--dir",
        &mb,
        mounts.to_str().unwrap(),
        "/a",
        "/b",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "rename across mounts: EXDEV\nlink across mounts: EXDEV\nrename within a mount: ok\ndone\n"
    );
    assert_eq!(std::fs::read_dir(a.path()).unwrap().count(), 0);
}

#[test]
fn the_exit_code_and_traps_come_through() {
    let work = tempfile::tempdir().unwrap();
    let exit3 = wat(
        work.path(),
        "exit3.wat",
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start") (call $exit (i32.const 3))))"#,
    );
    assert_eq!(strata(&["run", &exit3]).status.code(), Some(3));
    let trap = wat(
        work.path(),
        "trap.wat",
        r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
    );
    let out = strata(&["run", &trap]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("trapped"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_memory_limit_bounds_what_a_guest_can_allocate() {
    let work = tempfile::tempdir().unwrap();
    // Grows memory by 64 MiB; exits 7 if refused.
    let grow = wat(
        work.path(),
        "grow.wat",
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start")
              (if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1))
                (then (call $exit (i32.const 7))))))"#,
    );
    assert_eq!(
        strata(&["run", "--max-memory-mib", "16", &grow])
            .status
            .code(),
        Some(7)
    );
    assert_eq!(
        strata(&["run", "--max-memory-mib", "128", &grow])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn a_missing_or_invalid_program_is_a_one_line_error() {
    let out = strata(&["run", "/nonexistent/guest.wasm"]);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
    let work = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("text.wasm", &b"not wasm at all"[..]),
        ("bin.wasm", &b"\0asm\x01\0\0\0\xff\xff"[..]),
    ] {
        let path = work.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = strata(&["run", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("strata: "), "{stderr}");
    }
}

/// `strata run` with `RUST_LOG` set (or removed) as given.
fn strata_with_log(rust_log: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    match rust_log {
        Some(spec) => command.env("RUST_LOG", spec),
        None => command.env_remove("RUST_LOG"),
    };
    command.args(args).output().expect("run strata")
}

/// `-v` shows on stderr what the filesystem decided — base data fetched
/// from the host directory, requests refused and why — and nothing else
/// changes; without it (and without `RUST_LOG`) stderr is the program's.
#[test]
fn verbose_shows_fetches_and_refusals() {
    let Some(fsops) = guest("fsops") else { return };
    let dir = host_dir();
    let mount = format!("{}::/", dir.path().display());
    let program = fsops.to_str().unwrap();
    let quiet = strata_with_log(None, &["run", "--dir", &mount, program, "/"]);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert_eq!(text(&quiet.stderr), "");

    let loud = strata_with_log(None, &["run", "-v", "--dir", &mount, program, "/"]);
    assert!(loud.status.success(), "{}", text(&loud.stderr));
    assert_eq!(loud.stdout, quiet.stdout);
    let log = text(&loud.stderr);
    assert!(log.contains("parked: fetching base data"), "{log}");
    // The guest's second `mkdir dir`.
    assert!(
        log.contains(r#"refused op=CreateDir"#) && log.contains("error=file exists"),
        "{log}"
    );

    let bad = strata_with_log(Some("strata=loud"), &["run", "--dir", &mount, program, "/"]);
    assert_eq!(bad.status.code(), Some(2));
    let message = text(&bad.stderr);
    assert!(
        message.starts_with("strata: RUST_LOG=strata=loud: "),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    assert_eq!(text(&bad.stdout), "", "the program ran");
}
