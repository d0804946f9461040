// Benchmark guest: in-place page updates, as a database does them. Opens
// an existing file of 4 KiB pages and, N times, reads a page and writes it
// back changed (pread + pwrite at the same offset), pages picked by a
// fixed pseudo-random sequence. The file never grows.
// Usage: overwrite FILE PAGES N

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    long pages = atol(argv[2]), rounds = atol(argv[3]);
    int fd = open(argv[1], O_RDWR);
    if (fd < 0 || pages <= 0) return 1;
    char page[4096];
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (long r = 0; r < rounds; r++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        off_t at = (off_t)(x % (uint64_t)pages) * sizeof page;
        if (pread(fd, page, sizeof page, at) != sizeof page) return 1;
        page[r % sizeof page] += 1;
        if (pwrite(fd, page, sizeof page, at) != sizeof page) return 1;
    }
    return close(fd) == 0 ? 0 : 1;
}
