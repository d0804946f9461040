// Benchmark guest: N rounds of the small-file workload — create and write a
// 4 KiB file, read it back, stat it, unlink it.
// Usage: smallfiles DIR N

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long rounds = atol(argv[2]);
    char path[512], buf[4096];
    for (int i = 0; i < 4096; i++) buf[i] = (char)i;
    for (long r = 0; r < rounds; r++) {
        snprintf(path, sizeof path, "%s/f%ld", argv[1], r % 64);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0 || write(fd, buf, sizeof buf) != sizeof buf) return 1;
        close(fd);
        fd = open(path, O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) != sizeof buf) return 1;
        close(fd);
        struct stat st;
        if (stat(path, &st) != 0 || st.st_size != sizeof buf) return 1;
        if (unlink(path) != 0) return 1;
    }
    return 0;
}
