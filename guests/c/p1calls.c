// A C guest calling preview1 functions that libc does not reach directly:
// fd_renumber, poll_oneoff and fd_readdir with cookies of its choosing.
//
// It prints a transcript, one line per step. `renumber` and `poll` print
// only what wasmtime-wasi's p1 answers the same way (the tests compare the
// two); `poll-nbytes` adds what Strata reports beyond it, and `readdir`
// lists a directory while changing it, where Strata's name-based cookies
// differ from wasmtime-wasi's counting ones on purpose. Built with Zig's
// wasi-libc by scripts/build-guests.
//
// Usage: p1calls ROOT renumber|poll|poll-nbytes|readdir

#include <fcntl.h>
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

static const char *errname(__wasi_errno_t e) {
    switch (e) {
    case __WASI_ERRNO_SUCCESS: return "ok";
    case __WASI_ERRNO_BADF: return "EBADF";
    case __WASI_ERRNO_INVAL: return "EINVAL";
    case __WASI_ERRNO_NOTSUP: return "ENOTSUP";
    default: {
        static char other[16];
        snprintf(other, sizeof other, "errno %u", (unsigned)e);
        return other;
    }
    }
}

static int make(const char *p, const char *text) {
    int fd = open(at(p), O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd >= 0 && text) {
        write(fd, text, strlen(text));
    }
    return fd;
}

// ---- fd_renumber -----------------------------------------------------------

static void renumber(void) {
    int a = make("ra", "from a");
    int b = make("rb", "from b");
    printf("opened a=%d b=%d\n", a, b);
    printf("renumber a b: %s\n", errname(__wasi_fd_renumber(a, b)));

    // b is now a's open file, cursor and all: at the end of "from a".
    char buf[32] = {0};
    printf("read b at a's cursor: %zd\n", read(b, buf, sizeof buf - 1));
    ssize_t n = pread(b, buf, sizeof buf - 1, 0);
    printf("pread b: %zd \"%.*s\"\n", n, (int)(n > 0 ? n : 0), buf);

    __wasi_fdstat_t st;
    printf("fdstat a: %s\n", errname(__wasi_fd_fdstat_get(a, &st)));
    printf("renumber a b again: %s\n", errname(__wasi_fd_renumber(a, b)));
    printf("renumber b 77: %s\n", errname(__wasi_fd_renumber(b, 77)));
    printf("renumber b b: %s\n", errname(__wasi_fd_renumber(b, b)));

    // The old b was closed, not changed.
    int rb = open(at("rb"), O_RDONLY);
    memset(buf, 0, sizeof buf);
    n = read(rb, buf, sizeof buf - 1);
    printf("rb still reads: %zd \"%.*s\"\n", n, (int)(n > 0 ? n : 0), buf);
    printf("fd numbers: rb=%d (a was %d)\n", rb, a);
    close(rb);

    // A directory opened by path is no preopen.
    int dir = open(at("."), O_RDONLY | O_DIRECTORY);
    __wasi_prestat_t pre;
    printf("prestat of an opened dir: %s\n", errname(__wasi_fd_prestat_get(dir, &pre)));
    printf("close b: %d\n", close(b));
    close(dir);
}

// ---- poll_oneoff -----------------------------------------------------------

static int show_nbytes;

static __wasi_subscription_t clock_sub(__wasi_userdata_t id, __wasi_clockid_t clock,
                                       __wasi_timestamp_t timeout, int absolute) {
    __wasi_subscription_t s;
    memset(&s, 0, sizeof s);
    s.userdata = id;
    s.u.tag = __WASI_EVENTTYPE_CLOCK;
    s.u.u.clock.id = clock;
    s.u.u.clock.timeout = timeout;
    s.u.u.clock.flags = absolute ? __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME : 0;
    return s;
}

static __wasi_subscription_t fd_sub(__wasi_userdata_t id, __wasi_eventtype_t kind, int fd) {
    __wasi_subscription_t s;
    memset(&s, 0, sizeof s);
    s.userdata = id;
    s.u.tag = kind;
    if (kind == __WASI_EVENTTYPE_FD_READ) {
        s.u.u.fd_read.file_descriptor = fd;
    } else {
        s.u.u.fd_write.file_descriptor = fd;
    }
    return s;
}

static const __wasi_timestamp_t FAR = 10ull * 1000 * 1000 * 1000; // 10 s

static void poll_and_show(const char *what, __wasi_subscription_t *subs, size_t count) {
    __wasi_event_t events[8];
    __wasi_size_t n = 0;
    __wasi_errno_t e = __wasi_poll_oneoff(subs, events, count, &n);
    printf("%s: %s, %u event(s)", what, errname(e), (unsigned)(e ? 0 : n));
    for (__wasi_size_t i = 0; e == 0 && i < n; i++) {
        printf(" [%llu type %u %s", (unsigned long long)events[i].userdata,
               (unsigned)events[i].type, errname(events[i].error));
        if (events[i].type != __WASI_EVENTTYPE_CLOCK) {
            printf(" flags %u", (unsigned)events[i].fd_readwrite.flags);
            if (show_nbytes) {
                printf(" nbytes %llu", (unsigned long long)events[i].fd_readwrite.nbytes);
            }
        }
        printf("]");
    }
    printf("\n");
}

static __wasi_timestamp_t now(__wasi_clockid_t clock) {
    __wasi_timestamp_t t = 0;
    if (__wasi_clock_time_get(clock, 1, &t) != 0) {
        return 0;
    }
    return t;
}

static void poll(void) {
    int f = make("pf", "0123456789");
    lseek(f, 4, SEEK_SET);
    int dir = open(at("."), O_RDONLY | O_DIRECTORY);

    __wasi_timestamp_t before = now(__WASI_CLOCKID_MONOTONIC);
    __wasi_subscription_t s1[] = {clock_sub(11, __WASI_CLOCKID_MONOTONIC, 20000000, 0)};
    poll_and_show("relative clock", s1, 1);
    __wasi_timestamp_t slept = now(__WASI_CLOCKID_MONOTONIC) - before;
    printf("slept at least 20 ms: %s\n", slept >= 20000000 ? "yes" : "no");

    __wasi_subscription_t s2[] = {clock_sub(21, __WASI_CLOCKID_MONOTONIC, FAR, 0),
                                  fd_sub(22, __WASI_EVENTTYPE_FD_READ, f)};
    poll_and_show("file read, far clock", s2, 2);

    lseek(f, 0, SEEK_END);
    __wasi_subscription_t s3[] = {fd_sub(31, __WASI_EVENTTYPE_FD_READ, f),
                                  clock_sub(32, __WASI_CLOCKID_REALTIME, FAR, 0)};
    poll_and_show("file read at end", s3, 2);

    __wasi_subscription_t s4[] = {fd_sub(41, __WASI_EVENTTYPE_FD_WRITE, f),
                                  clock_sub(42, __WASI_CLOCKID_MONOTONIC, FAR, 0)};
    poll_and_show("file write", s4, 2);

    __wasi_timestamp_t wall = now(__WASI_CLOCKID_REALTIME);
    __wasi_subscription_t s5[] = {clock_sub(51, __WASI_CLOCKID_MONOTONIC, FAR, 0),
                                  clock_sub(52, __WASI_CLOCKID_REALTIME, wall - 1000, 1)};
    poll_and_show("past realtime deadline", s5, 2);

    // Half of the monotonic clock's reading is at least 10 ms into the
    // past (the guest slept 20 ms above): ready before a 5 ms clock.
    __wasi_timestamp_t mono = now(__WASI_CLOCKID_MONOTONIC);
    __wasi_subscription_t s6[] = {clock_sub(61, __WASI_CLOCKID_MONOTONIC, mono / 2, 1),
                                  clock_sub(62, __WASI_CLOCKID_MONOTONIC, 5000000, 0)};
    poll_and_show("past monotonic deadline", s6, 2);

    __wasi_subscription_t s7[] = {fd_sub(71, __WASI_EVENTTYPE_FD_WRITE, 1),
                                  clock_sub(72, __WASI_CLOCKID_MONOTONIC, FAR, 0)};
    poll_and_show("stdout write", s7, 2);

    __wasi_subscription_t s8[] = {fd_sub(81, __WASI_EVENTTYPE_FD_READ, dir)};
    poll_and_show("directory read", s8, 1);
    __wasi_subscription_t s9[] = {fd_sub(91, __WASI_EVENTTYPE_FD_READ, 99)};
    poll_and_show("closed fd", s9, 1);
    __wasi_subscription_t s10[] = {clock_sub(101, __WASI_CLOCKID_PROCESS_CPUTIME_ID, 1, 0)};
    poll_and_show("cpu-time clock", s10, 1);
    poll_and_show("no subscriptions", s1, 0);

    if (show_nbytes) {
        // Several ready at once: every one is reported, in order.
        lseek(f, 7, SEEK_SET);
        __wasi_subscription_t s11[] = {clock_sub(111, __WASI_CLOCKID_MONOTONIC, 0, 0),
                                       fd_sub(112, __WASI_EVENTTYPE_FD_READ, f),
                                       clock_sub(113, __WASI_CLOCKID_MONOTONIC, FAR, 0),
                                       fd_sub(114, __WASI_EVENTTYPE_FD_WRITE, f)};
        poll_and_show("all at once", s11, 4);
    }
    close(dir);
    close(f);
}

// ---- fd_readdir --------------------------------------------------------------

// One fd_readdir call from `cookie`, printing each whole entry; returns the
// cookie after `stop_after` (or after the last whole entry).
static __wasi_dircookie_t list(const char *what, int fd, __wasi_dircookie_t cookie,
                               size_t room, const char *stop_after) {
    static uint8_t buf[4096];
    __wasi_size_t used = 0;
    __wasi_errno_t e = __wasi_fd_readdir(fd, buf, room, cookie, &used);
    printf("%s (from %llu): %s", what, (unsigned long long)cookie, errname(e));
    __wasi_dircookie_t next = cookie;
    size_t off = 0;
    while (e == 0 && off + sizeof(__wasi_dirent_t) <= used) {
        __wasi_dirent_t d;
        memcpy(&d, buf + off, sizeof d);
        if (off + sizeof d + d.d_namlen > used) {
            break; // cut short: asked for again from `next`
        }
        const char *name = (const char *)buf + off + sizeof d;
        printf(" %.*s@%llu", (int)d.d_namlen, name, (unsigned long long)d.d_next);
        next = d.d_next;
        off += sizeof d + d.d_namlen;
        if (stop_after && strlen(stop_after) == d.d_namlen &&
            memcmp(stop_after, name, d.d_namlen) == 0) {
            break;
        }
    }
    printf("\n");
    return next;
}

static void readdir_changing(void) {
    mkdir(at("rd"), 0755);
    const char *names[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) {
        char p[16];
        snprintf(p, sizeof p, "rd/%s", names[i]);
        close(make(p, NULL));
    }
    int fd = open(at("rd"), O_RDONLY | O_DIRECTORY);
    __wasi_dircookie_t after_b = list("all", fd, 0, 4096, "b");

    // Entries come and go around the cookie.
    unlink(at("rd/a"));
    unlink(at("rd/c"));
    close(make("rd/bb", NULL));
    close(make("rd/z", NULL));
    close(make("rd/0", NULL));
    list("after b, changed", fd, after_b, 4096, NULL);
    // A cookie from the first call, of a name now gone, still resumes there.
    list("after a (gone)", fd, 3, 4096, NULL);

    // Delete each entry as it is listed, one entry per call: every entry is
    // seen once, and the directory ends empty.
    printf("deleting while listing:");
    __wasi_dircookie_t cookie = 0;
    for (int guard = 0; guard < 32; guard++) {
        static uint8_t one[26];
        __wasi_size_t used = 0;
        if (__wasi_fd_readdir(fd, one, sizeof one, cookie, &used) != 0 || used < sizeof(__wasi_dirent_t)) {
            break;
        }
        __wasi_dirent_t d;
        memcpy(&d, one, sizeof d);
        char name[8] = {0};
        memcpy(name, one + sizeof d, d.d_namlen < 7 ? d.d_namlen : 7);
        printf(" %s", name);
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            char p[16];
            snprintf(p, sizeof p, "rd/%s", name);
            unlink(at(p));
        }
        cookie = d.d_next;
    }
    printf("\n");
    close(fd);
    printf("rmdir rd: %s\n", rmdir(at("rd")) == 0 ? "ok" : "failed");
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: p1calls ROOT renumber|poll|poll-nbytes|readdir\n");
        return 2;
    }
    root = argv[1];
    const char *what = argv[2];
    if (strcmp(what, "renumber") == 0) {
        renumber();
    } else if (strcmp(what, "poll") == 0) {
        poll();
    } else if (strcmp(what, "poll-nbytes") == 0) {
        show_nbytes = 1;
        poll();
    } else if (strcmp(what, "readdir") == 0) {
        readdir_changing();
    } else {
        return 2;
    }
    printf("done\n");
    return 0;
}
