// Benchmark guest: N rounds of the small-file workload through
// wasi:filesystem@0.3.0 — the p3 twin of guests/c/smallfiles.c: create and
// write a 4 KiB file (write-via-stream), read it back (read-via-stream),
// stat it, unlink it. Arguments (wasi:cli/environment): N. Files are named
// f0..f63 in the first preopen.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wait.h"

typedef wasi_filesystem_types_borrow_descriptor_t borrow_t;

static uint8_t data[4096], back[4096];

static int open_file(borrow_t root, const char *name, uint8_t oflags, uint8_t flags,
                     wasi_filesystem_types_own_descriptor_t *out) {
    wasi_filesystem_types_method_descriptor_open_at_args_t args = {
        .self = root, .path_flags = 0, .path = str(name), .open_flags = oflags, .flags = flags,
    };
    wasi_filesystem_types_result_own_descriptor_error_code_t r;
    await_call(wasi_filesystem_types_method_descriptor_open_at(&args, &r));
    if (r.is_err) return 0;
    *out = r.val.ok;
    return 1;
}

static int round_trip(borrow_t root, const char *name) {
    wasi_filesystem_types_own_descriptor_t fd;
    if (!open_file(root, name,
                   WASI_FILESYSTEM_TYPES_OPEN_FLAGS_CREATE | WASI_FILESYSTEM_TYPES_OPEN_FLAGS_TRUNCATE,
                   WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_WRITE, &fd))
        return 0;
    wasi_filesystem_types_stream_u8_writer_t w;
    wasi_filesystem_types_stream_u8_t r = wasi_filesystem_types_stream_u8_new(&w);
    wasi_filesystem_types_future_result_void_error_code_t done =
        wasi_filesystem_types_method_descriptor_write_via_stream(
            wasi_filesystem_types_borrow_descriptor(fd), r, 0);
    size_t n = write_all(w, data, sizeof data);
    wasi_filesystem_types_stream_u8_drop_writable(w);
    if (await_outcome(done) || n != sizeof data) return 0;
    wasi_filesystem_types_descriptor_drop_own(fd);

    if (!open_file(root, name, 0, WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &fd)) return 0;
    wasi_filesystem_types_tuple2_stream_u8_future_result_void_error_code_t s;
    wasi_filesystem_types_method_descriptor_read_via_stream(
        wasi_filesystem_types_borrow_descriptor(fd), 0, &s);
    size_t len = 0;
    int ended = 0;
    while (!ended && len < sizeof back) len += read_some(s.f0, back + len, sizeof back - len, &ended);
    wasi_filesystem_types_stream_u8_drop_readable(s.f0);
    if (await_outcome(s.f1) || len != sizeof back) return 0;
    wasi_filesystem_types_descriptor_drop_own(fd);

    wasi_filesystem_types_result_descriptor_stat_error_code_t st;
    await_call(wasi_filesystem_types_method_descriptor_stat_at(root, 0, str(name), &st));
    if (st.is_err || st.val.ok.size != sizeof data) return 0;
    wasi_filesystem_types_result_void_error_code_t gone;
    await_call(wasi_filesystem_types_method_descriptor_unlink_file_at(root, str(name), &gone));
    return !gone.is_err;
}

static int run(void) {
    p3fs_list_string_t args;
    wasi_cli_environment_get_arguments(&args);
    if (args.len < 2) return 0;
    char count[32];
    snprintf(count, sizeof count, "%.*s", (int)args.ptr[1].len, (const char *)args.ptr[1].ptr);
    long rounds = atol(count);
    wasi_filesystem_preopens_list_tuple2_own_descriptor_string_t preopens;
    wasi_filesystem_preopens_get_directories(&preopens);
    if (preopens.len == 0) return 0;
    borrow_t root = wasi_filesystem_types_borrow_descriptor(preopens.ptr[0].f0);
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)i;
    char name[16];
    for (long r = 0; r < rounds; r++) {
        snprintf(name, sizeof name, "f%ld", r % 64);
        if (!round_trip(root, name)) return 0;
    }
    return 1;
}

p3fs_callback_code_t exports_wasi_cli_run_run(void) {
    waiting = p3fs_waitable_set_new();
    exports_wasi_cli_run_result_void_void_t result = {.is_err = !run()};
    p3fs_waitable_set_drop(waiting);
    exports_wasi_cli_run_run_return(result);
    return P3FS_CALLBACK_CODE_EXIT;
}

p3fs_callback_code_t exports_wasi_cli_run_run_callback(p3fs_event_t *event) {
    (void)event;
    return P3FS_CALLBACK_CODE_EXIT;
}
