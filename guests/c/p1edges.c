// p1 edge cases, called directly: errnos wasmtime-wasi's p1 gives too
// (`edges`), and fd_readdir cookies over long listings that change
// (`seekdir N`, `retry N`). Usage: p1edges ROOT edges|seekdir N|retry N
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

static char path_buf[4096];
static const char *root = ".";
static const char *at(const char *p) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", root, p);
    return path_buf;
}

// First whole entry after `cookie`: its name into `name`, returns its d_next.
static __wasi_dircookie_t first_entry(int fd, __wasi_dircookie_t cookie, char *name, size_t room) {
    static uint8_t buf[512];
    __wasi_size_t used = 0;
    __wasi_errno_t e = __wasi_fd_readdir(fd, buf, sizeof buf, cookie, &used);
    name[0] = 0;
    if (e != 0 || used < sizeof(__wasi_dirent_t)) {
        snprintf(name, room, "<errno %u used %u>", (unsigned)e, (unsigned)used);
        return 0;
    }
    __wasi_dirent_t d;
    memcpy(&d, buf, sizeof d);
    size_t n = d.d_namlen < room - 1 ? d.d_namlen : room - 1;
    memcpy(name, buf + sizeof d, n);
    name[n] = 0;
    return d.d_next;
}

// A telldir-style position saved early in a long listing, used again after
// the listing went on (> 4096 cookies) and entries before it were removed.
static void seekdir_after_long_listing(int count) {
    mkdir(at("big"), 0755);
    char p[64];
    for (int i = 0; i < count; i++) {
        snprintf(p, sizeof p, "big/f%05d", i);
        close(open(at(p), O_CREAT | O_WRONLY, 0644));
    }
    int fd = open(at("big"), O_RDONLY | O_DIRECTORY);
    // List entry by entry from the start; remember the cookie after f00009.
    char name[64];
    __wasi_dircookie_t cookie = 2, saved = 0;
    int seen = 0;
    for (;;) {
        __wasi_dircookie_t next = first_entry(fd, cookie, name, sizeof name);
        if (next == 0) break;
        seen++;
        if (strcmp(name, "f00009") == 0) saved = next;
        cookie = next;
    }
    printf("listed %d entries, saved cookie %llu (after f00009)\n", seen, (unsigned long long)saved);
    // Remove five entries that sort before the saved position.
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "big/f%05d", i);
        unlink(at(p));
    }
    first_entry(fd, saved, name, sizeof name);
    printf("seekdir(saved) resumes at: %s (expected f00010)\n", name);
    close(fd);
}

// wasi-libc/Rust std retry: an entry too big for the buffer is asked for
// again with the cookie the previous call was given.
static void retry_after_clear(int shorts) {
    mkdir(at("r"), 0755);
    char p[400];
    for (int i = 0; i < shorts; i++) {
        snprintf(p, sizeof p, "r/a%05d", i);
        close(open(at(p), O_CREAT | O_WRONLY, 0644));
    }
    // A long name sorting last.
    char longname[200];
    memset(longname, 'z', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    snprintf(p, sizeof p, "r/%s", longname);
    close(open(at(p), O_CREAT | O_WRONLY, 0644));
    int fd = open(at("r"), O_RDONLY | O_DIRECTORY);
    // One whole entry per call (30-byte entries in a 31-byte buffer), and
    // delete each as it is listed, like remove_dir_all.
    static uint8_t small[31], big[512];
    __wasi_dircookie_t cookie = 2;
    int deleted = 0, retried = 0;
    for (int guard = 0; guard < shorts + 10; guard++) {
        __wasi_size_t used = 0;
        if (__wasi_fd_readdir(fd, small, sizeof small, cookie, &used) != 0) break;
        if (used < sizeof(__wasi_dirent_t)) break;
        __wasi_dirent_t d;
        memcpy(&d, small, sizeof d);
        uint8_t *b = small;
        if (sizeof d + d.d_namlen > used) {
            // Cut short: ask again, same cookie, bigger buffer.
            retried++;
            if (__wasi_fd_readdir(fd, big, sizeof big, cookie, &used) != 0) break;
            if (used < sizeof d) { printf("retry returned nothing\n"); break; }
            memcpy(&d, big, sizeof d);
            b = big;
        }
        char name[256] = {0};
        memcpy(name, b + sizeof d, d.d_namlen < 255 ? d.d_namlen : 255);
        snprintf(p, sizeof p, "r/%s", name);
        if (unlink(at(p)) == 0) deleted++;
        cookie = d.d_next;
    }
    printf("shorts %d: deleted %d of %d, retried %d, rmdir: %s\n", shorts, deleted, shorts + 1,
           retried, rmdir(at("r")) == 0 ? "ok" : "ENOTEMPTY");
    close(fd);
}

static void edges(void) {
    int f = open(at("e"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(f, "0123456789", 10);
    __wasi_size_t n = 0;
    // Zero iovecs / zero-length write past EOF.
    __wasi_ciovec_t none[1] = {{(const uint8_t *)"", 0}};
    printf("pwrite 0 bytes at 100: %u n=%u\n", (unsigned)__wasi_fd_pwrite(f, none, 1, 100, &n), (unsigned)n);
    struct stat st; fstat(f, &st);
    printf("size after: %lld\n", (long long)st.st_size);
    // readdir with cookie u64::MAX.
    int d = open(at("."), O_RDONLY | O_DIRECTORY);
    static uint8_t buf[256];
    printf("readdir max cookie: %u used=%u\n", (unsigned)__wasi_fd_readdir(d, buf, sizeof buf, UINT64_MAX, &n), (unsigned)n);
    printf("readdir max-1 cookie: %u used=%u\n", (unsigned)__wasi_fd_readdir(d, buf, sizeof buf, UINT64_MAX - 1, &n), (unsigned)n);
    // Huge poll count.
    __wasi_event_t ev[1];
    __wasi_subscription_t sub[1];
    memset(sub, 0, sizeof sub);
    printf("poll huge count: %u\n", (unsigned)__wasi_poll_oneoff(sub, ev, 0x7fffffff, &n));
    // Clock u64::MAX + file.
    __wasi_subscription_t s2[2];
    memset(s2, 0, sizeof s2);
    s2[0].userdata = 1; s2[0].u.tag = __WASI_EVENTTYPE_CLOCK; s2[0].u.u.clock.id = __WASI_CLOCKID_MONOTONIC; s2[0].u.u.clock.timeout = UINT64_MAX;
    s2[1].userdata = 2; s2[1].u.tag = __WASI_EVENTTYPE_FD_READ; s2[1].u.u.fd_read.file_descriptor = f;
    __wasi_event_t e2[2];
    printf("poll max clock + file: %u n=%u\n", (unsigned)__wasi_poll_oneoff(s2, e2, 2, &n), (unsigned)n);
    // Absolute monotonic u64::MAX + file.
    s2[0].u.u.clock.flags = __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME;
    printf("poll abs max clock + file: %u n=%u\n", (unsigned)__wasi_poll_oneoff(s2, e2, 2, &n), (unsigned)n);
    // Huge iovec count on a read.
    __wasi_iovec_t iov[1] = {{buf, 10}};
    printf("read huge iovec count: %u\n", (unsigned)__wasi_fd_read(f, iov, 0x7fffffff, &n));
    // Append + pwrite.
    int a = open(at("e"), O_WRONLY | O_APPEND);
    __wasi_ciovec_t x[1] = {{(const uint8_t *)"XY", 2}};
    printf("append pwrite at 0: %u n=%u\n", (unsigned)__wasi_fd_pwrite(a, x, 1, 0, &n), (unsigned)n);
    __wasi_filesize_t pos = 0;
    __wasi_fd_tell(a, &pos);
    printf("append fd tell: %llu\n", (unsigned long long)pos);
    fstat(f, &st);
    printf("size after append pwrite: %lld\n", (long long)st.st_size);
    // Write on a directory fd, read on a directory fd.
    printf("write dir: %u\n", (unsigned)__wasi_fd_write(d, x, 1, &n));
    printf("read dir: %u\n", (unsigned)__wasi_fd_read(d, iov, 1, &n));
    // fdstat_set_flags on a dir; sync flags.
    printf("set flags dir: %u\n", (unsigned)__wasi_fd_fdstat_set_flags(d, __WASI_FDFLAGS_APPEND));
    printf("set flags sync: %u\n", (unsigned)__wasi_fd_fdstat_set_flags(f, __WASI_FDFLAGS_SYNC));
    printf("advise dir: %u\n", (unsigned)__wasi_fd_advise(d, 0, 0, __WASI_ADVICE_NORMAL));
    printf("allocate file: %u\n", (unsigned)__wasi_fd_allocate(f, 0, 10));
    printf("sync dir: %u\n", (unsigned)__wasi_fd_sync(d));
    printf("seek dir: %u\n", (unsigned)__wasi_fd_seek(d, 0, __WASI_WHENCE_CUR, &pos));
    printf("seek stdout: %u\n", (unsigned)__wasi_fd_seek(1, 0, __WASI_WHENCE_CUR, &pos));
    printf("seek neg: %u\n", (unsigned)__wasi_fd_seek(f, -1, __WASI_WHENCE_SET, &pos));
    printf("pread stdin: %u\n", (unsigned)__wasi_fd_pread(0, iov, 1, 0, &n));
    printf("pwrite stdout: %u\n", (unsigned)__wasi_fd_pwrite(1, x, 1, 0, &n));
    printf("pwrite stdin: %u\n", (unsigned)__wasi_fd_pwrite(0, x, 1, 0, &n));
    printf("set_rights stdout: %u\n", (unsigned)__wasi_fd_fdstat_set_rights(1, 0, 0));
    printf("set_rights file: %u\n", (unsigned)__wasi_fd_fdstat_set_rights(f, 0, 0));
    printf("filestat_set_size ro: ");
    int ro = open(at("e"), O_RDONLY);
    printf("%u\n", (unsigned)__wasi_fd_filestat_set_size(ro, 3));
    printf("write ro: %u\n", (unsigned)__wasi_fd_write(ro, x, 1, &n));
    printf("read wo: %u\n", (unsigned)__wasi_fd_read(a, iov, 1, &n));
    // poll on write-only file for read, read-only for write
    __wasi_subscription_t s3[1];
    memset(s3, 0, sizeof s3);
    s3[0].userdata = 3; s3[0].u.tag = __WASI_EVENTTYPE_FD_READ; s3[0].u.u.fd_read.file_descriptor = a;
    __wasi_errno_t pe = __wasi_poll_oneoff(s3, e2, 1, &n);
    printf("poll read on write-only: %u n=%u err=%u\n", (unsigned)pe, (unsigned)n, pe ? 0 : (unsigned)e2[0].error);
    s3[0].u.tag = __WASI_EVENTTYPE_FD_WRITE; s3[0].u.u.fd_write.file_descriptor = ro;
    pe = __wasi_poll_oneoff(s3, e2, 1, &n);
    printf("poll write on read-only: %u n=%u err=%u\n", (unsigned)pe, (unsigned)n, pe ? 0 : (unsigned)e2[0].error);
    // renumber onto stdout, then write via printf goes to file
    __wasi_fdstat_t fst;
    printf("fdstat stdin: %u type %u\n", (unsigned)__wasi_fd_fdstat_get(0, &fst), (unsigned)fst.fs_filetype);
    // renumber a preopen onto an fd, prestat
    __wasi_prestat_t pre;
    int d2 = open(at("."), O_RDONLY | O_DIRECTORY);
    printf("renumber preopen 3 -> d2: %u\n", (unsigned)__wasi_fd_renumber(3, d2));
    printf("prestat d2: %u\n", (unsigned)__wasi_fd_prestat_get(d2, &pre));
    printf("prestat 3: %u\n", (unsigned)__wasi_fd_prestat_get(3, &pre));
    __wasi_fd_renumber(d2, 3);
    printf("prestat 3 again: %u\n", (unsigned)__wasi_fd_prestat_get(3, &pre));
    close(ro); close(a); close(d); close(f);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    root = argv[1];
    const char *what = argv[2];
    if (strcmp(what, "seekdir") == 0) {
        seekdir_after_long_listing(argc > 3 ? atoi(argv[3]) : 5000);
    } else if (strcmp(what, "retry") == 0) {
        retry_after_clear(argc > 3 ? atoi(argv[3]) : 100);
    } else if (strcmp(what, "edges") == 0) {
        edges();
    } else {
        return 2;
    }
    printf("done\n");
    return 0;
}
