// What every p3 guest here needs around wit-bindgen's async C bindings: an
// async import that does not return at once, a stream read or write that
// blocks, a future not yet written — each is waited for in one waitable set.

#ifndef P3_WAIT_H
#define P3_WAIT_H

#include "p3fs.h"

static p3fs_waitable_set_t waiting;

/// Waits for the next event on `waitable` of kind `kind`; returns its code.
static uint32_t wait_for(uint32_t waitable, p3fs_event_code_t kind) {
    p3fs_waitable_join(waitable, waiting);
    p3fs_event_t event;
    do {
        p3fs_waitable_set_wait(waiting, &event);
    } while (event.waitable != waitable || event.event != kind);
    p3fs_waitable_join(waitable, 0);
    return event.code;
}

/// Waits until an async import call has returned (its result is filled in).
static void await_call(p3fs_subtask_status_t status) {
    if (P3FS_SUBTASK_STATE(status) == P3FS_SUBTASK_RETURNED) return;
    p3fs_subtask_t task = P3FS_SUBTASK_HANDLE(status);
    while (wait_for(task, P3FS_EVENT_SUBTASK) != P3FS_SUBTASK_RETURNED) {
    }
    p3fs_subtask_drop(task);
}

/// Reads up to `n` bytes; `*ended` when the stream has ended.
static size_t read_some(wasi_filesystem_types_stream_u8_t s, uint8_t *buf, size_t n, int *ended) {
    p3fs_waitable_status_t st = wasi_filesystem_types_stream_u8_read(s, buf, n);
    if (st == P3FS_WAITABLE_STATUS_BLOCKED) st = wait_for(s, P3FS_EVENT_STREAM_READ);
    *ended = P3FS_WAITABLE_STATE(st) == P3FS_WAITABLE_DROPPED;
    return P3FS_WAITABLE_COUNT(st);
}

/// Writes all of `buf`, unless the reader goes away; returns what went.
static size_t write_all(wasi_filesystem_types_stream_u8_writer_t w, const void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        p3fs_waitable_status_t st =
            wasi_filesystem_types_stream_u8_write(w, (const uint8_t *)buf + done, n - done);
        if (st == P3FS_WAITABLE_STATUS_BLOCKED) st = wait_for(w, P3FS_EVENT_STREAM_WRITE);
        done += P3FS_WAITABLE_COUNT(st);
        if (P3FS_WAITABLE_STATE(st) == P3FS_WAITABLE_DROPPED) break;
    }
    return done;
}

/// Awaits a stream's outcome future: 0 for ok, else the error code's tag + 1.
static int await_outcome(wasi_filesystem_types_future_result_void_error_code_t f) {
    wasi_filesystem_types_result_void_error_code_t r;
    p3fs_waitable_status_t st = wasi_filesystem_types_future_result_void_error_code_read(f, &r);
    if (st == P3FS_WAITABLE_STATUS_BLOCKED) wait_for(f, P3FS_EVENT_FUTURE_READ);
    wasi_filesystem_types_future_result_void_error_code_drop_readable(f);
    return r.is_err ? r.val.err.tag + 1 : 0;
}

/// `s` as a component-model string, without copying.
static p3fs_string_t str(const char *s) {
    p3fs_string_t out;
    p3fs_string_set(&out, s);
    return out;
}

#endif
