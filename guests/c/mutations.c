// Benchmark guest: one kind of file operation, many times, in a directory of
// N files — what `benches/mutations.rs` measures. The C twin of
// `guests/rust/mutations_std.rs` (same operations, arguments and transcript),
// built with Zig's wasi-libc by scripts/build-guests.
//
// Usage: mutations OP DIR N K
//   prepare   make DIR with N files f0..f{N-1} of 4 KiB (K is ignored)
//   create    K times: open O_CREAT|O_WRONLY|O_TRUNC a new file, write 4 KiB,
//             close                                           (then unlink it)
//   overwrite K times: the same on an existing file
//   append    K times: open O_APPEND, write 4 KiB, close      (then truncate back)
//   rename    K renames within DIR, f{j} <-> g{j} back and forth
//   mkdir     K times: mkdir                                  (then rmdir)
//   rmdir     K times: rmdir                                  (after mkdir)
//   unlink    K times: unlink                                 (after creating the file)
//   read      K times: open, read to the end, close a 4 KiB file
//   stat      K times: stat
//   readdir   K full listings of DIR (N entries each, "." and ".." not counted)
//   unpack    K times: write a tree of N files in nested directories (DIR/t)
//   remove    K times: delete such a tree recursively             (after unpacking it)
//   timer     K times: nothing, timed as one operation is (the timer's own cost)
//
// Only the operations named are timed (CLOCK_MONOTONIC); the last line
// printed is `ns <total>`. Any failure exits non-zero.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static char data[8 * 1024];
static char *dir;
static unsigned long long elapsed_ns;
static struct timespec started;

static void start(void) { clock_gettime(CLOCK_MONOTONIC, &started); }

static void stop(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    elapsed_ns += (unsigned long long)(now.tv_sec - started.tv_sec) * 1000000000ull +
                  (unsigned long long)now.tv_nsec - (unsigned long long)started.tv_nsec;
}

static void fail(const char *what, const char *path) {
    fprintf(stderr, "%s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static void check(int ok, const char *what, const char *path) {
    if (!ok) fail(what, path);
}

static char *name(char *buf, char prefix, long j) {
    snprintf(buf, 512, "%s/%c%ld", dir, prefix, j);
    return buf;
}

static void write_file(const char *path, int flags, size_t size) {
    int fd = open(path, flags, 0644);
    check(fd >= 0, "open", path);
    check(write(fd, data, size) == (ssize_t)size, "write", path);
    check(close(fd) == 0, "close", path);
}

#define CREATE (O_CREAT | O_WRONLY | O_TRUNC)

// The tree `unpack` writes: 10 directories of 10 directories, the N files
// spread over those 100, sizes from 1 to 7 KiB.
static void unpack(const char *root, long files) {
    char path[512];
    check(mkdir(root, 0755) == 0, "mkdir", root);
    for (int d = 0; d < 10; d++) {
        snprintf(path, sizeof path, "%s/d%d", root, d);
        check(mkdir(path, 0755) == 0, "mkdir", path);
        for (int s = 0; s < 10; s++) {
            snprintf(path, sizeof path, "%s/d%d/s%d", root, d, s);
            check(mkdir(path, 0755) == 0, "mkdir", path);
            for (long i = d * 10 + s; i < files; i += 100) {
                snprintf(path, sizeof path, "%s/d%d/s%d/file%ld.c", root, d, s, i);
                write_file(path, CREATE, 1024 * (1 + (i * 7919) % 7));
            }
        }
    }
}

// Deletes `path` and everything under it, reading each directory whole
// before removing from it, as `rm -r` does.
static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    check(d != NULL, "opendir", path);
    size_t count = 0, cap = 64;
    char **names = malloc(cap * sizeof *names);
    unsigned char *is_dir = malloc(cap);
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (count == cap) {
            cap *= 2;
            names = realloc(names, cap * sizeof *names);
            is_dir = realloc(is_dir, cap);
        }
        names[count] = strdup(e->d_name);
        is_dir[count++] = e->d_type == DT_DIR;
    }
    check(errno == 0, "readdir", path);
    closedir(d);
    char child[512];
    for (size_t i = 0; i < count; i++) {
        snprintf(child, sizeof child, "%s/%s", path, names[i]);
        if (is_dir[i])
            remove_tree(child);
        else
            check(unlink(child) == 0, "unlink", child);
        free(names[i]);
    }
    free(names);
    free(is_dir);
    check(rmdir(path) == 0, "rmdir", path);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: mutations OP DIR N K\n");
        return 2;
    }
    const char *op = argv[1];
    dir = argv[2];
    long n = atol(argv[3]), k = atol(argv[4]);
    for (size_t i = 0; i < sizeof data; i++) data[i] = (char)(i % 251);
    char path[512], other[512];
    char summary[64] = "ok";

    if (strcmp(op, "prepare") == 0) {
        check(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir", dir);
        for (long j = 0; j < n; j++) write_file(name(path, 'f', j), CREATE, PAGE);
    } else if (strcmp(op, "create") == 0) {
        for (long i = 0; i < k; i++) {
            name(path, 'c', i);
            start();
            write_file(path, CREATE, PAGE);
            stop();
            check(unlink(path) == 0, "unlink", path);
        }
    } else if (strcmp(op, "overwrite") == 0) {
        start();
        for (long i = 0; i < k; i++) write_file(name(path, 'f', i % n), CREATE, PAGE);
        stop();
    } else if (strcmp(op, "append") == 0) {
        for (long i = 0; i < k; i++) {
            name(path, 'f', i % n);
            start();
            write_file(path, O_WRONLY | O_APPEND, PAGE);
            stop();
            check(truncate(path, PAGE) == 0, "truncate", path);
        }
    } else if (strcmp(op, "rename") == 0) {
        start();
        for (long i = 0; i < k; i++) {
            long j = i % n;
            int back = (i / n) % 2;
            name(path, back ? 'g' : 'f', j);
            name(other, back ? 'f' : 'g', j);
            check(rename(path, other) == 0, "rename", path);
        }
        stop();
        // Files renamed an odd number of times go back to their names.
        for (long j = 0; j < n && j < k; j++) {
            if ((k / n + (j < k % n)) % 2 == 1)
                check(rename(name(path, 'g', j), name(other, 'f', j)) == 0, "rename", path);
        }
    } else if (strcmp(op, "mkdir") == 0) {
        for (long i = 0; i < k; i++) {
            name(path, 'm', i);
            start();
            int r = mkdir(path, 0755);
            stop();
            check(r == 0, "mkdir", path);
            check(rmdir(path) == 0, "rmdir", path);
        }
    } else if (strcmp(op, "rmdir") == 0) {
        for (long i = 0; i < k; i++) {
            name(path, 'm', i);
            check(mkdir(path, 0755) == 0, "mkdir", path);
            start();
            int r = rmdir(path);
            stop();
            check(r == 0, "rmdir", path);
        }
    } else if (strcmp(op, "unlink") == 0) {
        for (long i = 0; i < k; i++) {
            write_file(name(path, 'u', i), CREATE, PAGE);
            start();
            int r = unlink(path);
            stop();
            check(r == 0, "unlink", path);
        }
    } else if (strcmp(op, "read") == 0) {
        static char buf[PAGE + 1];
        long bytes = 0;
        start();
        for (long i = 0; i < k; i++) {
            int fd = open(name(path, 'f', i % n), O_RDONLY);
            check(fd >= 0, "open", path);
            ssize_t got;
            while ((got = read(fd, buf, sizeof buf)) > 0) bytes += got;
            check(got == 0, "read", path);
            close(fd);
        }
        stop();
        snprintf(summary, sizeof summary, "%ld bytes", bytes);
    } else if (strcmp(op, "stat") == 0) {
        long bytes = 0;
        struct stat st;
        start();
        for (long i = 0; i < k; i++) {
            check(stat(name(path, 'f', i % n), &st) == 0, "stat", path);
            bytes += st.st_size;
        }
        stop();
        snprintf(summary, sizeof summary, "%ld bytes", bytes);
    } else if (strcmp(op, "readdir") == 0) {
        long entries = 0;
        start();
        for (long i = 0; i < k; i++) {
            DIR *d = opendir(dir);
            check(d != NULL, "opendir", dir);
            struct dirent *e;
            errno = 0;
            while ((e = readdir(d)) != NULL)
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) entries++;
            check(errno == 0, "readdir", dir);
            closedir(d);
        }
        stop();
        if (entries != n * k) {
            fprintf(stderr, "readdir: %ld entries, expected %ld\n", entries, n * k);
            return 1;
        }
        snprintf(summary, sizeof summary, "%ld entries", entries);
    } else if (strcmp(op, "timer") == 0) {
        for (long i = 0; i < k; i++) {
            start();
            stop();
        }
    } else if (strcmp(op, "unpack") == 0 || strcmp(op, "remove") == 0) {
        int timing_unpack = strcmp(op, "unpack") == 0;
        snprintf(path, sizeof path, "%s/t", dir);
        for (long i = 0; i < k; i++) {
            if (timing_unpack) start();
            unpack(path, n);
            if (timing_unpack) stop(); else start();
            remove_tree(path);
            if (!timing_unpack) stop();
        }
    } else {
        fprintf(stderr, "unknown op %s\n", op);
        return 2;
    }
    printf("%s %ld %ld: %s\n", op, n, k, summary);
    printf("ns %llu\n", elapsed_ns);
    return 0;
}
