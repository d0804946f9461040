// A C guest that runs into Strata's limits and prints what it gets.
// Usage: limits DIR — expects a filesystem limited to 1 MiB of data,
// 64 inodes, files of at most 4 MiB and 32 open handles.

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *name(int e) {
    switch (e) {
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSPC: return "ENOSPC";
    case EFBIG: return "EFBIG";
    case EDQUOT: return "EDQUOT";
    case EMFILE: return "EMFILE";
    case 0: return "none";
    default: return strerror(e);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char path[8192];

    // A name longer than 255 bytes.
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    snprintf(path, sizeof path, "%s/%s", argv[1], longname);
    errno = 0;
    printf("open long name: %s\n", open(path, O_CREAT | O_WRONLY, 0644) < 0 ? name(errno) : "ok");

    // A path longer than 4096 bytes.
    int len = snprintf(path, sizeof path, "%s", argv[1]);
    while (len < 5000) len += snprintf(path + len, sizeof path - len, "/d");
    errno = 0;
    printf("open long path: %s\n", open(path, O_RDONLY) < 0 ? name(errno) : "ok");

    // Fill the byte quota.
    snprintf(path, sizeof path, "%s/big", argv[1]);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    static char block[64 * 1024];
    memset(block, 1, sizeof block);
    long written = 0;
    errno = 0;
    for (int i = 0; i < 64; i++) {
        ssize_t n = write(fd, block, sizeof block);
        if (n < 0) break;
        written += n;
    }
    printf("write until full: %s after %ld bytes\n", name(errno), written);
    close(fd);
    unlink(path);

    // Grow a file past the size limit.
    snprintf(path, sizeof path, "%s/sparse", argv[1]);
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    errno = 0;
    printf("ftruncate 1 GiB: %s\n", ftruncate(fd, 1L << 30) < 0 ? name(errno) : "ok");
    errno = 0;
    printf("pwrite at 1 GiB: %s\n", pwrite(fd, "x", 1, 1L << 30) < 0 ? name(errno) : "ok");
    close(fd);
    unlink(path);

    // Run out of open handles.
    int fds[100], opened = 0;
    errno = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "%s/h%d", argv[1], i % 8);
        int f = open(path, O_CREAT | O_RDONLY, 0644);
        if (f < 0) break;
        fds[opened++] = f;
    }
    printf("open until refused: %s after %d\n", name(errno), opened);
    for (int i = 0; i < opened; i++) close(fds[i]);

    // Run out of inodes.
    int created = 0;
    errno = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "%s/i%d", argv[1], i);
        int f = open(path, O_CREAT | O_WRONLY, 0644);
        if (f < 0) break;
        close(f);
        created++;
    }
    printf("create until refused: %s after %d\n", name(errno), created);
    printf("done\n");
    return 0;
}
