// Benchmark guest: read a file sequentially in 64 KiB reads, REPEAT times.
// Usage: seqread PATH REPEAT — prints the bytes read and a checksum.

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char buf[64 * 1024];

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long repeat = atol(argv[2]);
    unsigned long long total = 0, sum = 0;
    for (long r = 0; r < repeat; r++) {
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0) return 1;
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            total += (unsigned long long)n;
            sum += (unsigned char)buf[0] + (unsigned char)buf[n - 1];
        }
        close(fd);
        if (n < 0) return 1;
    }
    printf("%llu %llu\n", total, sum);
    return 0;
}
