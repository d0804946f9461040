// A C guest exercising the filesystem through stdio and POSIX calls.
//
// It prints a transcript, one line per step: what it did and what came back
// ("ok ..." or the errno name). The tests run it on Strata and on
// wasmtime-wasi's own host filesystem and compare the transcripts, and check
// some lines directly. Built with Zig's wasi-libc by scripts/build-guests.
//
// Usage: fsops [ROOT]   (ROOT: a directory to work in, default ".")

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EFBIG: return "EFBIG";
    case EINVAL: return "EINVAL";
    case EIO: return "EIO";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case EMLINK: return "EMLINK";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOENT: return "ENOENT";
    case ENOSPC: return "ENOSPC";
    case ENOTDIR: return "ENOTDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOTSUP: return "ENOTSUP";
    case EPERM: return "EPERM";
    case EXDEV: return "EXDEV";
    case EDQUOT: return "EDQUOT";
    default: return "E?";
    }
}

static char path_bufs[2][4096];
static int path_next;
static const char *root = ".";

// `p` under the working root (two buffers in turn, for two-path calls).
static const char *at(const char *p) {
    char *buf = path_bufs[path_next++ % 2];
    snprintf(buf, sizeof path_bufs[0], "%s/%s", root, p);
    return buf;
}

static void report(const char *what, int rc) {
    if (rc < 0) {
        printf("%s: %s\n", what, errname(errno));
    } else {
        printf("%s: ok\n", what);
    }
}

static const char *kind(mode_t m) {
    if (S_ISDIR(m)) return "dir";
    if (S_ISLNK(m)) return "symlink";
    if (S_ISREG(m)) return "file";
    return "other";
}

static void show_stat(const char *what, const char *p, int follow) {
    struct stat st;
    int rc = follow ? stat(at(p), &st) : lstat(at(p), &st);
    if (rc < 0) {
        printf("%s: %s\n", what, errname(errno));
    } else if (S_ISDIR(st.st_mode)) {
        printf("%s: ok %s\n", what, kind(st.st_mode));
    } else {
        printf("%s: ok %s size=%lld nlink=%llu\n", what, kind(st.st_mode), (long long)st.st_size,
               (unsigned long long)st.st_nlink);
    }
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *what, const char *p) {
    DIR *d = opendir(at(p));
    if (!d) {
        printf("%s: %s\n", what, errname(errno));
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("%s: ok", what);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

static void cat(const char *what, const char *p) {
    FILE *f = fopen(at(p), "r");
    if (!f) {
        printf("%s: %s\n", what, errname(errno));
        return;
    }
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n') buf[i] = '|';
    printf("%s: ok \"%s\"\n", what, buf);
}

int main(int argc, char **argv) {
    if (argc > 1) root = argv[1];

    report("mkdir dir", mkdir(at("dir"), 0755));
    report("mkdir dir again", mkdir(at("dir"), 0755));

    FILE *f = fopen(at("dir/a.txt"), "w");
    printf("fopen w dir/a.txt: %s\n", f ? "ok" : errname(errno));
    if (f) {
        fputs("first line\nsecond line\n", f);
        fclose(f);
    }
    cat("cat dir/a.txt", "dir/a.txt");
    f = fopen(at("dir/a.txt"), "a");
    if (f) {
        fputs("appended\n", f);
        fclose(f);
    }
    cat("cat after append", "dir/a.txt");
    show_stat("stat dir/a.txt", "dir/a.txt", 1);
    report("open missing", open(at("missing"), O_RDONLY));
    report("open dir/a.txt/x O_CREAT", open(at("dir/a.txt/x"), O_CREAT | O_WRONLY, 0644));
    report("open dir O_WRONLY", open(at("dir"), O_WRONLY));
    report("open dir/a.txt O_CREAT|O_EXCL", open(at("dir/a.txt"), O_CREAT | O_EXCL | O_WRONLY, 0644));

    report("rename a.txt b.txt", rename(at("dir/a.txt"), at("dir/b.txt")));
    show_stat("stat old name", "dir/a.txt", 1);
    report("link b.txt c.txt", link(at("dir/b.txt"), at("dir/c.txt")));
    show_stat("stat c.txt", "dir/c.txt", 1);
    report("symlink l -> b.txt", symlink("b.txt", at("dir/l")));
    char target[256];
    ssize_t tn = readlink(at("dir/l"), target, sizeof target - 1);
    if (tn < 0) {
        printf("readlink dir/l: %s\n", errname(errno));
    } else {
        target[tn] = 0;
        printf("readlink dir/l: ok %s\n", target);
    }
    show_stat("lstat dir/l", "dir/l", 0);
    show_stat("stat dir/l", "dir/l", 1);
    cat("cat through symlink", "dir/l");
    report("symlink to absolute path", symlink("/etc/passwd", at("dir/abs")));
    report("symlink up -> ../../x", symlink("../../x", at("dir/up")));
    report("open through escaping symlink", open(at("dir/up"), O_RDONLY));
    report("symlink loop1 -> loop2", symlink("loop2", at("dir/loop1")));
    report("symlink loop2 -> loop1", symlink("loop1", at("dir/loop2")));
    report("open symlink loop", open(at("dir/loop1"), O_RDONLY));
    list("ls dir", "dir");

    // A sparse write far past the end, a read from the hole, a truncate.
    int fd = open(at("dir/b.txt"), O_RDWR);
    report("open b.txt O_RDWR", fd);
    if (fd >= 0) {
        lseek(fd, 100000, SEEK_SET);
        ssize_t w = write(fd, "end", 3);
        printf("write at 100000: %zd\n", w);
        char hole[8] = {1, 1, 1, 1, 1, 1, 1, 1};
        ssize_t r = pread(fd, hole, sizeof hole, 50000);
        printf("pread hole: %zd zeros=%d\n", r, hole[0] == 0 && hole[7] == 0);
        report("ftruncate 10", ftruncate(fd, 10));
        close(fd);
    }
    show_stat("stat b.txt", "dir/b.txt", 1);
    cat("cat b.txt", "dir/b.txt");

    // Appends move the cursor to the end; pwrite on an append fd ignores
    // its offset; fstat and stat agree on the object's identity.
    fd = open(at("dir/b.txt"), O_WRONLY | O_APPEND);
    report("open b.txt O_APPEND", fd);
    if (fd >= 0) {
        printf("append: %zd, cursor %lld\n", write(fd, "+app", 4), (long long)lseek(fd, 0, SEEK_CUR));
        printf("pwrite on append fd: %zd, cursor %lld\n", pwrite(fd, "!", 1, 0),
               (long long)lseek(fd, 0, SEEK_CUR));
        struct stat by_fd, by_path;
        if (fstat(fd, &by_fd) == 0 && stat(at("dir/b.txt"), &by_path) == 0) {
            printf("fstat: size=%lld same ino as stat=%d\n", (long long)by_fd.st_size,
                   by_fd.st_ino == by_path.st_ino);
        }
        close(fd);
    }
    cat("cat b.txt after appends", "dir/b.txt");

    // Overwrites of bytes a file already holds: every read that follows —
    // through the same descriptor, another one, stat, a fresh open — must
    // see them.
    fd = open(at("dir/over"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    report("open over", fd);
    if (fd >= 0) {
        char block[4096];
        memset(block, '.', sizeof block);
        printf("write 4096: %zd\n", write(fd, block, sizeof block));
        int other = open(at("dir/over"), O_RDONLY);
        for (int round = 0; round < 3; round++) {
            char tag[16], mine[16] = {0}, theirs[16] = {0};
            int n = snprintf(tag, sizeof tag, "round%d", round);
            off_t at_ = 1000 + 2 * round;
            printf("pwrite in place: %zd\n", pwrite(fd, tag, n, at_));
            ssize_t a = pread(fd, mine, n, at_);
            ssize_t b = pread(other, theirs, n, at_);
            printf("pread same fd: %zd %s, other fd: %zd %s\n", a, mine, b, theirs);
        }
        lseek(fd, 10, SEEK_SET);
        printf("write at cursor: %zd\n", write(fd, "cursor", 6));
        char head[24] = {0};
        printf("read on: %zd ", read(fd, head, 8));
        printf("pread head: %zd %.16s\n", pread(other, head, 16, 8), head);
        struct stat st;
        if (fstat(other, &st) == 0) {
            printf("fstat other fd: size=%lld\n", (long long)st.st_size);
        }
        close(other);
        close(fd);
        FILE *g = fopen(at("dir/over"), "r");
        if (g) {
            char mid[16] = {0};
            fseek(g, 1000, SEEK_SET);
            printf("fresh open reads: %zu %.10s\n", fread(mid, 1, 10, g), mid);
            fclose(g);
        }
    }

    // A heap that grows after file work (the old-libc adapter trap).
    char *big = malloc(1 << 20);
    memset(big, 7, 1 << 20);
    f = fopen(at("dir/big"), "w");
    if (f) {
        size_t w = fwrite(big, 1, 1 << 20, f);
        fclose(f);
        printf("fwrite 1 MiB: %zu\n", w);
    }
    free(big);
    show_stat("stat big", "dir/big", 1);

    report("unlink dir", unlink(at("dir")));
    report("rmdir non-empty dir", rmdir(at("dir")));
    report("rmdir a file", rmdir(at("dir/big")));
    report("open ../escape", open(at("../escape"), O_RDONLY));

    const char *names[] = {"dir/b.txt", "dir/c.txt", "dir/l",   "dir/up",
                           "dir/loop1", "dir/loop2", "dir/big", "dir/over"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) unlink(at(names[i]));
    list("ls dir after cleanup", "dir");
    report("rmdir dir", rmdir(at("dir")));
    list("ls root", ".");
    printf("done\n");
    return 0;
}
