// A C guest that works across two preopened mounts.
// Usage: mounts DIR_A DIR_B — prints one line per step.

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void report(const char *what, int rc) {
    if (rc < 0) {
        printf("%s: %s\n", what, errno == EXDEV ? "EXDEV" : strerror(errno));
    } else {
        printf("%s: ok\n", what);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    char a[512], b[512], a2[512];
    snprintf(a, sizeof a, "%s/moved.txt", argv[1]);
    snprintf(a2, sizeof a2, "%s/renamed.txt", argv[1]);
    snprintf(b, sizeof b, "%s/moved.txt", argv[2]);
    FILE *f = fopen(a, "w");
    if (!f) {
        printf("create: %s\n", strerror(errno));
        return 1;
    }
    fputs("data\n", f);
    fclose(f);
    report("rename across mounts", rename(a, b));
    report("link across mounts", link(a, b));
    report("rename within a mount", rename(a, a2));
    printf("done\n");
    return 0;
}
