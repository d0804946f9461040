// Benchmark guest: a file read sequentially through wasi:filesystem@0.3.0's
// `read-via-stream`, in 64 KiB reads, REPEAT times — the p3 twin of
// guests/c/seqread.c. Arguments (wasi:cli/environment): PATH REPEAT, PATH
// relative to the first preopen. Prints the bytes read and a checksum.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wait.h"

static uint8_t buf[64 * 1024];

static int run(void) {
    p3fs_list_string_t args;
    wasi_cli_environment_get_arguments(&args);
    if (args.len < 3) return 0;
    char path[256], count[32];
    snprintf(path, sizeof path, "%.*s", (int)args.ptr[1].len, (const char *)args.ptr[1].ptr);
    snprintf(count, sizeof count, "%.*s", (int)args.ptr[2].len, (const char *)args.ptr[2].ptr);
    long repeat = atol(count);

    wasi_filesystem_preopens_list_tuple2_own_descriptor_string_t preopens;
    wasi_filesystem_preopens_get_directories(&preopens);
    if (preopens.len == 0) return 0;
    wasi_filesystem_types_borrow_descriptor_t root =
        wasi_filesystem_types_borrow_descriptor(preopens.ptr[0].f0);

    unsigned long long total = 0, sum = 0;
    for (long r = 0; r < repeat; r++) {
        wasi_filesystem_types_method_descriptor_open_at_args_t open = {
            .self = root, .path_flags = 0, .open_flags = 0,
            .flags = WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ,
        };
        p3fs_string_set(&open.path, path);
        wasi_filesystem_types_result_own_descriptor_error_code_t opened;
        await_call(wasi_filesystem_types_method_descriptor_open_at(&open, &opened));
        if (opened.is_err) return 0;
        wasi_filesystem_types_borrow_descriptor_t fd =
            wasi_filesystem_types_borrow_descriptor(opened.val.ok);
        wasi_filesystem_types_tuple2_stream_u8_future_result_void_error_code_t s;
        wasi_filesystem_types_method_descriptor_read_via_stream(fd, 0, &s);
        for (;;) {
            p3fs_waitable_status_t st = wasi_filesystem_types_stream_u8_read(s.f0, buf, sizeof buf);
            if (st == P3FS_WAITABLE_STATUS_BLOCKED) st = wait_for(s.f0, P3FS_EVENT_STREAM_READ);
            uint32_t n = P3FS_WAITABLE_COUNT(st);
            total += n;
            if (n) sum += buf[0] + buf[n - 1];
            if (P3FS_WAITABLE_STATE(st) == P3FS_WAITABLE_DROPPED) break;
        }
        wasi_filesystem_types_stream_u8_drop_readable(s.f0);
        if (await_outcome(s.f1)) return 0;
        wasi_filesystem_types_descriptor_drop_own(opened.val.ok);
    }
    printf("%llu bytes, checksum %llu\n", total, sum);
    return 1;
}

p3fs_callback_code_t exports_wasi_cli_run_run(void) {
    waiting = p3fs_waitable_set_new();
    exports_wasi_cli_run_result_void_void_t result = {.is_err = !run()};
    fflush(stdout);
    p3fs_waitable_set_drop(waiting);
    exports_wasi_cli_run_run_return(result);
    return P3FS_CALLBACK_CODE_EXIT;
}

p3fs_callback_code_t exports_wasi_cli_run_run_callback(p3fs_event_t *event) {
    (void)event;
    return P3FS_CALLBACK_CODE_EXIT;
}
