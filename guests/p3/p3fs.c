// A guest calling wasi:filesystem@0.3.0 directly, through the component
// model's own streams and futures (bindings: guests/p3/gen, from
// guests/p3/wit by scripts/regen-guest-bindings). It prints a transcript
// that the tests compare line for line between Strata and wasmtime-wasi's
// own p3 host filesystem. Every call is made and then awaited: an async
// import that does not return at once is waited for in a waitable set.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wait.h"

typedef wasi_filesystem_types_borrow_descriptor_t borrow_t;
typedef wasi_filesystem_types_own_descriptor_t own_t;
typedef wasi_filesystem_types_error_code_t error_t;

static const char *const ERRORS[] = {
    "access", "already", "bad-descriptor", "busy", "deadlock", "quota", "exist",
    "file-too-large", "illegal-byte-sequence", "in-progress", "interrupted",
    "invalid", "io", "is-directory", "loop", "too-many-links", "message-size",
    "name-too-long", "no-device", "no-entry", "no-lock", "insufficient-memory",
    "insufficient-space", "not-directory", "not-empty", "not-recoverable",
    "unsupported", "no-tty", "no-such-device", "overflow", "not-permitted",
    "pipe", "read-only", "invalid-seek", "text-file-busy", "cross-device", "other",
};

static const char *const TYPES[] = {
    "block-device", "character-device", "directory", "fifo",
    "symbolic-link", "regular-file", "socket", "other",
};

static const char *error_name(error_t e) {
    return e.tag < sizeof ERRORS / sizeof *ERRORS ? ERRORS[e.tag] : "?";
}

/// Awaits a stream's outcome future and prints it after `what`.
static void outcome(const char *what, wasi_filesystem_types_future_result_void_error_code_t f) {
    int e = await_outcome(f);
    if (e) printf("%s: err %s\n", what, e - 1 < (int)(sizeof ERRORS / sizeof *ERRORS) ? ERRORS[e - 1] : "?");
    else printf("%s: ok\n", what);
}

static void print_result(const char *what, wasi_filesystem_types_result_void_error_code_t r) {
    if (r.is_err) printf("%s: err %s\n", what, error_name(r.val.err));
    else printf("%s: ok\n", what);
}

/// open-at; prints the error and returns 0 on failure.
static int open_at(const char *what, borrow_t dir, const char *path, uint8_t oflags, uint8_t flags, own_t *out) {
    wasi_filesystem_types_method_descriptor_open_at_args_t args = {
        .self = dir, .path_flags = 0, .path = str(path), .open_flags = oflags, .flags = flags,
    };
    wasi_filesystem_types_result_own_descriptor_error_code_t r;
    await_call(wasi_filesystem_types_method_descriptor_open_at(&args, &r));
    if (r.is_err) {
        printf("%s: err %s\n", what, error_name(r.val.err));
        return 0;
    }
    *out = r.val.ok;
    return 1;
}

static void stat_of(const char *what, borrow_t fd) {
    wasi_filesystem_types_result_descriptor_stat_error_code_t r;
    await_call(wasi_filesystem_types_method_descriptor_stat(fd, &r));
    if (r.is_err) printf("%s: err %s\n", what, error_name(r.val.err));
    else
        printf("%s: %s size %llu links %llu\n", what, TYPES[r.val.ok.type.tag],
               (unsigned long long)r.val.ok.size, (unsigned long long)r.val.ok.link_count);
}

static void stat_at(const char *what, borrow_t dir, const char *path, int follow) {
    wasi_filesystem_types_result_descriptor_stat_error_code_t r;
    await_call(wasi_filesystem_types_method_descriptor_stat_at(
        dir, follow ? WASI_FILESYSTEM_TYPES_PATH_FLAGS_SYMLINK_FOLLOW : 0, str(path), &r));
    if (r.is_err) printf("%s: err %s\n", what, error_name(r.val.err));
    else
        printf("%s: %s size %llu\n", what, TYPES[r.val.ok.type.tag],
               (unsigned long long)r.val.ok.size);
}

/// Writes `text` through write-via-stream at `offset` (or append-via-stream
/// when `offset` is negative) and prints the outcome.
static void write_stream(const char *what, borrow_t fd, const char *text, long long offset) {
    wasi_filesystem_types_stream_u8_writer_t w;
    wasi_filesystem_types_stream_u8_t r = wasi_filesystem_types_stream_u8_new(&w);
    wasi_filesystem_types_future_result_void_error_code_t f =
        offset < 0 ? wasi_filesystem_types_method_descriptor_append_via_stream(fd, r)
                   : wasi_filesystem_types_method_descriptor_write_via_stream(fd, r, (uint64_t)offset);
    size_t n = write_all(w, text, strlen(text));
    wasi_filesystem_types_stream_u8_drop_writable(w);
    printf("%s: wrote %zu\n", what, n);
    outcome(what, f);
}

/// Reads a whole stream from `offset` and prints it.
static void read_all(const char *what, borrow_t fd, uint64_t offset) {
    wasi_filesystem_types_tuple2_stream_u8_future_result_void_error_code_t s;
    wasi_filesystem_types_method_descriptor_read_via_stream(fd, offset, &s);
    char buf[256];
    size_t len = 0;
    int ended = 0;
    while (!ended && len < sizeof buf - 1) {
        len += read_some(s.f0, (uint8_t *)buf + len, sizeof buf - 1 - len, &ended);
    }
    buf[len] = 0;
    wasi_filesystem_types_stream_u8_drop_readable(s.f0);
    printf("%s: \"%s\"\n", what, buf);
    outcome(what, s.f1);
}

/// Reads from `offset` into `buf` until `max` bytes or the end.
static size_t read_into(borrow_t fd, uint64_t offset, uint8_t *buf, size_t max) {
    wasi_filesystem_types_tuple2_stream_u8_future_result_void_error_code_t s;
    wasi_filesystem_types_method_descriptor_read_via_stream(fd, offset, &s);
    size_t len = 0;
    int ended = 0;
    while (!ended && len < max) len += read_some(s.f0, buf + len, max - len, &ended);
    wasi_filesystem_types_stream_u8_drop_readable(s.f0);
    outcome("read-into", s.f1);
    return len;
}

#define BIG (200 * 1024)
static uint8_t big_data[BIG], big_back[BIG];

/// A file of several chunks: read by the guest across chunk boundaries from
/// an unaligned offset, and piped host to host — a read stream handed
/// straight to another file's write stream.
static void big_file(borrow_t root, uint8_t rw) {
    for (size_t i = 0; i < BIG; i++) big_data[i] = (uint8_t)(i * 7 + i / 251);
    own_t big, copy;
    if (!open_at("create big.bin", root, "big.bin", WASI_FILESYSTEM_TYPES_OPEN_FLAGS_CREATE, rw, &big)) return;
    borrow_t b = wasi_filesystem_types_borrow_descriptor(big);
    wasi_filesystem_types_stream_u8_writer_t w;
    wasi_filesystem_types_stream_u8_t r = wasi_filesystem_types_stream_u8_new(&w);
    wasi_filesystem_types_future_result_void_error_code_t f =
        wasi_filesystem_types_method_descriptor_write_via_stream(b, r, 0);
    size_t n = write_all(w, (const char *)big_data, BIG);
    wasi_filesystem_types_stream_u8_drop_writable(w);
    printf("write big.bin: wrote %zu\n", n);
    outcome("write big.bin", f);

    n = read_into(b, 100, big_back, BIG);
    printf("read big.bin from 100: %zu bytes, equal %d\n", n, memcmp(big_back, big_data + 100, BIG - 100) == 0);

    if (open_at("create copy.bin", root, "copy.bin", WASI_FILESYSTEM_TYPES_OPEN_FLAGS_CREATE, rw, &copy)) {
        borrow_t c = wasi_filesystem_types_borrow_descriptor(copy);
        wasi_filesystem_types_tuple2_stream_u8_future_result_void_error_code_t from;
        wasi_filesystem_types_method_descriptor_read_via_stream(b, 100, &from);
        f = wasi_filesystem_types_method_descriptor_write_via_stream(c, from.f0, 0);
        outcome("pipe big.bin from 100 into copy.bin: write", f);
        outcome("pipe big.bin from 100 into copy.bin: read", from.f1);
        memset(big_back, 0, BIG);
        n = read_into(c, 0, big_back, BIG);
        printf("copy.bin: %zu bytes, equal %d\n", n, memcmp(big_back, big_data + 100, BIG - 100) == 0);
        wasi_filesystem_types_descriptor_drop_own(copy);
    }
    wasi_filesystem_types_descriptor_drop_own(big);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/// Lists a directory through read-directory; prints the sorted names.
static void list(const char *what, borrow_t dir) {
    wasi_filesystem_types_tuple2_stream_directory_entry_future_result_void_error_code_t s;
    wasi_filesystem_types_method_descriptor_read_directory(dir, &s);
    char *names[64];
    size_t count = 0;
    for (;;) {
        wasi_filesystem_types_directory_entry_t entry;
        p3fs_waitable_status_t st = wasi_filesystem_types_stream_directory_entry_read(s.f0, &entry, 1);
        if (st == P3FS_WAITABLE_STATUS_BLOCKED) st = wait_for(s.f0, P3FS_EVENT_STREAM_READ);
        if (P3FS_WAITABLE_COUNT(st) == 1 && count < 64) {
            char *name = malloc(entry.name.len + 24);
            snprintf(name, entry.name.len + 24, "%.*s(%s)", (int)entry.name.len,
                     (const char *)entry.name.ptr, TYPES[entry.type.tag]);
            names[count++] = name;
            wasi_filesystem_types_directory_entry_free(&entry);
        }
        if (P3FS_WAITABLE_STATE(st) == P3FS_WAITABLE_DROPPED) break;
    }
    wasi_filesystem_types_stream_directory_entry_drop_readable(s.f0);
    qsort(names, count, sizeof *names, compare_names);
    printf("%s:", what);
    for (size_t i = 0; i < count; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
    outcome(what, s.f1);
}

/// Lists a directory through read-directory; prints how many entries came
/// and whether their names were all distinct and in `fNNN` form.
static void count_entries(const char *what, borrow_t dir) {
    wasi_filesystem_types_tuple2_stream_directory_entry_future_result_void_error_code_t s;
    wasi_filesystem_types_method_descriptor_read_directory(dir, &s);
    static unsigned char seen[1000];
    memset(seen, 0, sizeof seen);
    int count = 0, distinct = 1;
    for (;;) {
        wasi_filesystem_types_directory_entry_t entries[16];
        p3fs_waitable_status_t st = wasi_filesystem_types_stream_directory_entry_read(s.f0, entries, 16);
        if (st == P3FS_WAITABLE_STATUS_BLOCKED) st = wait_for(s.f0, P3FS_EVENT_STREAM_READ);
        for (uint32_t i = 0; i < P3FS_WAITABLE_COUNT(st); i++) {
            int n = -1;
            if (entries[i].name.len == 4 && entries[i].name.ptr[0] == 'f')
                n = (entries[i].name.ptr[1] - '0') * 100 + (entries[i].name.ptr[2] - '0') * 10 + (entries[i].name.ptr[3] - '0');
            if (n < 0 || n >= 1000 || seen[n]++) distinct = 0;
            count++;
            wasi_filesystem_types_directory_entry_free(&entries[i]);
        }
        if (P3FS_WAITABLE_STATE(st) == P3FS_WAITABLE_DROPPED) break;
    }
    wasi_filesystem_types_stream_directory_entry_drop_readable(s.f0);
    printf("%s: %d entries, distinct %d\n", what, count, distinct);
    outcome(what, s.f1);
}

static void create_dir(const char *what, borrow_t dir, const char *path) {
    wasi_filesystem_types_result_void_error_code_t r;
    await_call(wasi_filesystem_types_method_descriptor_create_directory_at(dir, str(path), &r));
    print_result(what, r);
}

static void touch(borrow_t dir, const char *path) {
    own_t fd;
    if (open_at(path, dir, path, WASI_FILESYSTEM_TYPES_OPEN_FLAGS_CREATE,
                WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_WRITE, &fd))
        wasi_filesystem_types_descriptor_drop_own(fd);
}

static void program(borrow_t root) {
    own_t file;
    uint8_t rw = WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ | WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_WRITE;
    if (!open_at("create hello.txt", root, "hello.txt", WASI_FILESYSTEM_TYPES_OPEN_FLAGS_CREATE, rw, &file)) return;
    borrow_t f = wasi_filesystem_types_borrow_descriptor(file);

    // Writes land before the stream's future resolves: stat sees them.
    write_stream("write-via-stream", f, "hello world", 0);
    stat_of("stat after write", f);

    // Two read streams on one descriptor, each with its own cursor.
    wasi_filesystem_types_tuple2_stream_u8_future_result_void_error_code_t r1, r2;
    wasi_filesystem_types_method_descriptor_read_via_stream(f, 0, &r1);
    wasi_filesystem_types_method_descriptor_read_via_stream(f, 6, &r2);
    char buf[16] = {0};
    int ended;
    size_t n = read_some(r1.f0, (uint8_t *)buf, 5, &ended);
    printf("r1 read 5: %zu \"%.*s\"\n", n, (int)n, buf);
    n = read_some(r2.f0, (uint8_t *)buf, 5, &ended);
    printf("r2 read 5: %zu \"%.*s\"\n", n, (int)n, buf);
    n = read_some(r1.f0, (uint8_t *)buf, 1, &ended);
    printf("r1 read 1 (own cursor): %zu \"%.*s\"\n", n, (int)n, buf);
    // Dropped early: the outcome is still ok.
    wasi_filesystem_types_stream_u8_drop_readable(r1.f0);
    wasi_filesystem_types_stream_u8_drop_readable(r2.f0);
    outcome("r1 dropped early", r1.f1);
    outcome("r2 dropped early", r2.f1);

    write_stream("append-via-stream", f, "!!", -1);
    write_stream("write-via-stream at 20 (past the end)", f, "X", 20);
    stat_of("stat after append and write past the end", f);
    read_all("read from 6 to the end", f, 6);
    read_all("read past the end", f, 100);
    big_file(root, rw);

    // A stream on a descriptor open for reading only, and on a directory.
    own_t ro;
    if (open_at("open hello.txt read-only", root, "hello.txt", 0,
                WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &ro)) {
        write_stream("write-via-stream on a read-only descriptor", wasi_filesystem_types_borrow_descriptor(ro), "no", 0);
        wasi_filesystem_types_descriptor_drop_own(ro);
    }
    read_all("read-via-stream on a directory", root, 0);

    wasi_filesystem_types_result_descriptor_type_error_code_t t;
    await_call(wasi_filesystem_types_method_descriptor_get_type(f, &t));
    printf("get-type: %s\n", t.is_err ? error_name(t.val.err) : TYPES[t.val.ok.tag]);
    wasi_filesystem_types_result_descriptor_flags_error_code_t fl;
    await_call(wasi_filesystem_types_method_descriptor_get_flags(f, &fl));
    printf("get-flags: %u\n", fl.is_err ? 999u : (unsigned)fl.val.ok);
    wasi_filesystem_types_result_void_error_code_t v;
    await_call(wasi_filesystem_types_method_descriptor_set_size(f, 5, &v));
    print_result("set-size 5", v);
    stat_of("stat after set-size", f);
    await_call(wasi_filesystem_types_method_descriptor_sync(f, &v));
    print_result("sync", v);
    await_call(wasi_filesystem_types_method_descriptor_advise(f, 0, 5, WASI_FILESYSTEM_TYPES_ADVICE_SEQUENTIAL, &v));
    print_result("advise", v);

    // Identity.
    own_t again;
    if (open_at("open hello.txt again", root, "hello.txt", 0, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &again)) {
        bool same = false;
        await_call(wasi_filesystem_types_method_descriptor_is_same_object(f, wasi_filesystem_types_borrow_descriptor(again), &same));
        printf("is-same-object: %d\n", same);
        wasi_filesystem_types_result_metadata_hash_value_error_code_t h1, h2;
        await_call(wasi_filesystem_types_method_descriptor_metadata_hash(f, &h1));
        await_call(wasi_filesystem_types_method_descriptor_metadata_hash_at(root, 0, str("hello.txt"), &h2));
        printf("metadata-hash equal: %d\n", !h1.is_err && !h2.is_err && h1.val.ok.lower == h2.val.ok.lower && h1.val.ok.upper == h2.val.ok.upper);
        wasi_filesystem_types_descriptor_drop_own(again);
    }

    // Directories, listings, names.
    create_dir("create-directory-at d", root, "d");
    create_dir("create-directory-at d again", root, "d");
    touch(root, "d/a");
    touch(root, "d/b");
    own_t d;
    if (open_at("open d", root, "d", WASI_FILESYSTEM_TYPES_OPEN_FLAGS_DIRECTORY, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &d)) {
        list("list d", wasi_filesystem_types_borrow_descriptor(d));
        wasi_filesystem_types_descriptor_drop_own(d);
    }
    list("list /", root);

    wasi_filesystem_types_method_descriptor_symlink_at_args_t sl = {.self = root, .old_path = str("hello.txt"), .new_path = str("link")};
    await_call(wasi_filesystem_types_method_descriptor_symlink_at(&sl, &v));
    print_result("symlink-at link -> hello.txt", v);
    wasi_filesystem_types_result_string_error_code_t rl;
    await_call(wasi_filesystem_types_method_descriptor_readlink_at(root, str("link"), &rl));
    if (rl.is_err) printf("readlink-at: err %s\n", error_name(rl.val.err));
    else printf("readlink-at: \"%.*s\"\n", (int)rl.val.ok.len, (const char *)rl.val.ok.ptr);
    stat_at("stat-at link (follow)", root, "link", 1);
    stat_at("stat-at link (no follow)", root, "link", 0);

    wasi_filesystem_types_method_descriptor_rename_at_args_t rn = {.self = root, .old_path = str("d/a"), .new_descriptor = root, .new_path = str("moved")};
    await_call(wasi_filesystem_types_method_descriptor_rename_at(&rn, &v));
    print_result("rename-at d/a -> moved", v);
    wasi_filesystem_types_method_descriptor_link_at_args_t ln = {.self = root, .old_path_flags = 0, .old_path = str("moved"), .new_descriptor = root, .new_path = str("hard")};
    await_call(wasi_filesystem_types_method_descriptor_link_at(&ln, &v));
    print_result("link-at moved -> hard", v);
    stat_at("stat-at hard", root, "hard", 0);

    // A listing of more entries than one round of the host's fetches.
    create_dir("create-directory-at many", root, "many");
    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "many/f%03d", i);
        touch(root, name);
    }
    own_t many;
    if (open_at("open many", root, "many", WASI_FILESYSTEM_TYPES_OPEN_FLAGS_DIRECTORY, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &many)) {
        count_entries("list many", wasi_filesystem_types_borrow_descriptor(many));
        wasi_filesystem_types_descriptor_drop_own(many);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "many/f%03d", i);
        await_call(wasi_filesystem_types_method_descriptor_unlink_file_at(root, str(name), &v));
    }
    await_call(wasi_filesystem_types_method_descriptor_remove_directory_at(root, str("many"), &v));
    print_result("remove-directory-at many", v);

    // Symlinks that lead nowhere, or in a circle.
    wasi_filesystem_types_method_descriptor_symlink_at_args_t l1 = {.self = root, .old_path = str("loop2"), .new_path = str("loop1")};
    wasi_filesystem_types_method_descriptor_symlink_at_args_t l2 = {.self = root, .old_path = str("loop1"), .new_path = str("loop2")};
    await_call(wasi_filesystem_types_method_descriptor_symlink_at(&l1, &v));
    await_call(wasi_filesystem_types_method_descriptor_symlink_at(&l2, &v));
    stat_at("stat-at loop1 (follow)", root, "loop1", 1);
    stat_at("stat-at loop1 (no follow)", root, "loop1", 0);
    await_call(wasi_filesystem_types_method_descriptor_unlink_file_at(root, str("loop1"), &v));
    await_call(wasi_filesystem_types_method_descriptor_unlink_file_at(root, str("loop2"), &v));
    print_result("unlink-file-at loop2", v);

    // Errors.
    own_t none;
    if (open_at("open missing", root, "missing", 0, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &none)) wasi_filesystem_types_descriptor_drop_own(none);
    if (open_at("open ../escape", root, "../escape", 0, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &none)) wasi_filesystem_types_descriptor_drop_own(none);
    if (open_at("open /abs", root, "/abs", 0, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &none)) wasi_filesystem_types_descriptor_drop_own(none);
    if (open_at("open hello.txt as a directory", root, "hello.txt", WASI_FILESYSTEM_TYPES_OPEN_FLAGS_DIRECTORY, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &none)) wasi_filesystem_types_descriptor_drop_own(none);
    if (open_at("create hello.txt exclusively", root, "hello.txt", WASI_FILESYSTEM_TYPES_OPEN_FLAGS_CREATE | WASI_FILESYSTEM_TYPES_OPEN_FLAGS_EXCLUSIVE, rw, &none)) wasi_filesystem_types_descriptor_drop_own(none);
    await_call(wasi_filesystem_types_method_descriptor_remove_directory_at(root, str("d"), &v));
    print_result("remove-directory-at d (not empty)", v);
    await_call(wasi_filesystem_types_method_descriptor_unlink_file_at(root, str("d"), &v));
    print_result("unlink-file-at d (a directory)", v);
    await_call(wasi_filesystem_types_method_descriptor_create_directory_at(root, str("hello.txt/x"), &v));
    print_result("create-directory-at under a file", v);
    stat_at("stat-at missing", root, "missing", 1);

    // Clean-up through the API.
    await_call(wasi_filesystem_types_method_descriptor_unlink_file_at(root, str("d/b"), &v));
    print_result("unlink-file-at d/b", v);
    await_call(wasi_filesystem_types_method_descriptor_remove_directory_at(root, str("d"), &v));
    print_result("remove-directory-at d", v);
    await_call(wasi_filesystem_types_method_descriptor_unlink_file_at(root, str("link"), &v));
    print_result("unlink-file-at link", v);
    list("list / at the end", root);
    wasi_filesystem_types_descriptor_drop_own(file);
}

/// `p3fs changing`: a listing that goes on while entries come and go —
/// 200 files, 50 entries read, then the files after the cursor removed and
/// one name added on each side of it. Prints what the rest of the listing
/// held: every entry at most once, the one added after the cursor, never
/// the one added before it.
static void list_while_changing(borrow_t root) {
    wasi_filesystem_types_result_void_error_code_t v;
    char name[32];
    create_dir("create-directory-at ch", root, "ch");
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "ch/f%03d", i);
        touch(root, name);
    }
    own_t ch;
    if (!open_at("open ch", root, "ch", WASI_FILESYSTEM_TYPES_OPEN_FLAGS_DIRECTORY, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &ch)) return;
    wasi_filesystem_types_tuple2_stream_directory_entry_future_result_void_error_code_t s;
    wasi_filesystem_types_method_descriptor_read_directory(wasi_filesystem_types_borrow_descriptor(ch), &s);
    static unsigned char seen[200];
    int count = 0, twice = 0, before = 0, after = 0, gone_seen = 0, changed = 0;
    for (;;) {
        wasi_filesystem_types_directory_entry_t e;
        p3fs_waitable_status_t st = wasi_filesystem_types_stream_directory_entry_read(s.f0, &e, 1);
        if (st == P3FS_WAITABLE_STATUS_BLOCKED) st = wait_for(s.f0, P3FS_EVENT_STREAM_READ);
        if (P3FS_WAITABLE_COUNT(st) == 1) {
            count++;
            if (e.name.len == 4 && e.name.ptr[0] == 'f') {
                int n = (e.name.ptr[1] - '0') * 100 + (e.name.ptr[2] - '0') * 10 + (e.name.ptr[3] - '0');
                if (n >= 0 && n < 200) {
                    if (seen[n]++) twice++;
                    if (n >= 150 && changed) gone_seen++;
                }
            } else if (e.name.len == 5 && memcmp(e.name.ptr, "a-new", 5) == 0) before++;
            else if (e.name.len == 6 && memcmp(e.name.ptr, "zz-new", 6) == 0) after++;
            wasi_filesystem_types_directory_entry_free(&e);
        }
        if (P3FS_WAITABLE_STATE(st) == P3FS_WAITABLE_DROPPED) break;
        if (count == 50 && !changed) {
            changed = 1;
            for (int i = 150; i < 200; i++) {
                snprintf(name, sizeof name, "ch/f%03d", i);
                await_call(wasi_filesystem_types_method_descriptor_unlink_file_at(root, str(name), &v));
            }
            touch(root, "ch/a-new");
            touch(root, "ch/zz-new");
        }
    }
    wasi_filesystem_types_stream_directory_entry_drop_readable(s.f0);
    printf("listing while changing: %d entries, %d twice, added before the cursor %d, after %d, removed ones after the change %d\n",
           count, twice, before, after, gone_seen);
    outcome("listing while changing", s.f1);
    wasi_filesystem_types_descriptor_drop_own(ch);
}

/// `p3fs cancel`: a read whose data does not come (the test holds it back)
/// is cancelled and dropped; its outcome still resolves.
static void cancel_a_pending_read(borrow_t root) {
    own_t slow;
    if (!open_at("open data/slow.txt", root, "data/slow.txt", 0, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &slow)) return;
    wasi_filesystem_types_tuple2_stream_u8_future_result_void_error_code_t s;
    wasi_filesystem_types_method_descriptor_read_via_stream(wasi_filesystem_types_borrow_descriptor(slow), 0, &s);
    uint8_t buf[64];
    p3fs_waitable_status_t st = wasi_filesystem_types_stream_u8_read(s.f0, buf, sizeof buf);
    printf("read: %s\n", st == P3FS_WAITABLE_STATUS_BLOCKED ? "blocked" : "answered");
    if (st == P3FS_WAITABLE_STATUS_BLOCKED) {
        st = wasi_filesystem_types_stream_u8_cancel_read(s.f0);
        if (st == P3FS_WAITABLE_STATUS_BLOCKED) st = wait_for(s.f0, P3FS_EVENT_STREAM_READ);
        printf("cancel: %s, %u bytes\n", P3FS_WAITABLE_STATE(st) == P3FS_WAITABLE_CANCELLED ? "cancelled" : "completed", P3FS_WAITABLE_COUNT(st));
    }
    wasi_filesystem_types_stream_u8_drop_readable(s.f0);
    outcome("cancelled read", s.f1);
    wasi_filesystem_types_descriptor_drop_own(slow);
}

/// `p3fs readonly`: under a read-only preopen holding `existing.txt`, every
/// change is refused and reading still works.
static void read_only(borrow_t root) {
    wasi_filesystem_types_result_void_error_code_t v;
    uint8_t rw = WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ | WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_WRITE;
    own_t fd;
    if (open_at("open existing.txt for writing", root, "existing.txt", 0, rw, &fd)) wasi_filesystem_types_descriptor_drop_own(fd);
    if (open_at("create new.txt", root, "new.txt", WASI_FILESYSTEM_TYPES_OPEN_FLAGS_CREATE, rw, &fd)) wasi_filesystem_types_descriptor_drop_own(fd);
    if (open_at("truncate existing.txt", root, "existing.txt", WASI_FILESYSTEM_TYPES_OPEN_FLAGS_TRUNCATE, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &fd)) wasi_filesystem_types_descriptor_drop_own(fd);
    create_dir("create-directory-at dir", root, "dir");
    await_call(wasi_filesystem_types_method_descriptor_unlink_file_at(root, str("existing.txt"), &v));
    print_result("unlink-file-at existing.txt", v);
    wasi_filesystem_types_method_descriptor_rename_at_args_t rn = {.self = root, .old_path = str("existing.txt"), .new_descriptor = root, .new_path = str("moved.txt")};
    await_call(wasi_filesystem_types_method_descriptor_rename_at(&rn, &v));
    print_result("rename-at existing.txt", v);
    if (open_at("open existing.txt", root, "existing.txt", 0, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &fd)) {
        borrow_t f = wasi_filesystem_types_borrow_descriptor(fd);
        read_all("read existing.txt", f, 0);
        write_stream("write-via-stream on it", f, "no", 0);
        write_stream("append-via-stream on it", f, "no", -1);
        await_call(wasi_filesystem_types_method_descriptor_set_size(f, 0, &v));
        print_result("set-size on it", v);
        wasi_filesystem_types_result_descriptor_flags_error_code_t fl;
        await_call(wasi_filesystem_types_method_descriptor_get_flags(f, &fl));
        printf("get-flags: %u\n", fl.is_err ? 999u : (unsigned)fl.val.ok);
        wasi_filesystem_types_descriptor_drop_own(fd);
    }
    list("list /", root);
}

/// When the preopen holds `data/slow.txt`, the guest only reads it through
/// a stream (the test of a read pending on a slow backend).
static int read_slow_file(borrow_t root) {
    own_t slow;
    wasi_filesystem_types_method_descriptor_open_at_args_t args = {
        .self = root, .path_flags = 0, .path = str("data/slow.txt"), .open_flags = 0,
        .flags = WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ,
    };
    wasi_filesystem_types_result_own_descriptor_error_code_t r;
    await_call(wasi_filesystem_types_method_descriptor_open_at(&args, &r));
    if (r.is_err) return 0;
    slow = r.val.ok;
    read_all("slow read", wasi_filesystem_types_borrow_descriptor(slow), 0);
    wasi_filesystem_types_descriptor_drop_own(slow);
    return 1;
}

p3fs_callback_code_t exports_wasi_cli_run_run(void) {
    waiting = p3fs_waitable_set_new();
    wasi_filesystem_preopens_list_tuple2_own_descriptor_string_t preopens;
    wasi_filesystem_preopens_get_directories(&preopens);
    if (preopens.len == 0) {
        printf("no preopens\n");
    } else {
        borrow_t root = wasi_filesystem_types_borrow_descriptor(preopens.ptr[0].f0);
        p3fs_list_string_t args;
        wasi_cli_environment_get_arguments(&args);
        const char *mode = "";
        char buf[32] = "";
        if (args.len > 1) {
            snprintf(buf, sizeof buf, "%.*s", (int)args.ptr[1].len, (const char *)args.ptr[1].ptr);
            mode = buf;
        }
        if (strcmp(mode, "changing") == 0) list_while_changing(root);
        else if (strcmp(mode, "cancel") == 0) cancel_a_pending_read(root);
        else if (strcmp(mode, "readonly") == 0) read_only(root);
        else if (!read_slow_file(root)) program(root);
    }
    for (size_t i = 0; i < preopens.len; i++) wasi_filesystem_types_descriptor_drop_own(preopens.ptr[i].f0);
    printf("done\n");
    fflush(stdout);
    p3fs_waitable_set_drop(waiting);
    exports_wasi_cli_run_result_void_void_t ok = {.is_err = false};
    exports_wasi_cli_run_run_return(ok);
    return P3FS_CALLBACK_CODE_EXIT;
}

p3fs_callback_code_t exports_wasi_cli_run_run_callback(p3fs_event_t *event) {
    (void)event;
    return P3FS_CALLBACK_CODE_EXIT;
}
