// The demo's guest: a small batch job on its own fork of a shared image.
// Reads /data/input.txt, counts its words and lines, writes a report under
// /out through a scratch file it renames into place, updates /etc/app.conf,
// and prints one summary line.
// Usage: worker ID

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *id = argc > 1 ? argv[1] : "0";
    FILE *in = fopen("/data/input.txt", "r");
    if (!in) {
        printf("worker %s: cannot open input: %s\n", id, strerror(errno));
        return 1;
    }
    long words = 0, lines = 0;
    int c, in_word = 0;
    while ((c = fgetc(in)) != EOF) {
        if (c == '\n') lines++;
        if (c == ' ' || c == '\n' || c == '\t') {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    fclose(in);

    char scratch[64], report[64];
    snprintf(scratch, sizeof scratch, "/tmp/worker-%s", id);
    mkdir(scratch, 0755);
    snprintf(scratch, sizeof scratch, "/tmp/worker-%s/draft", id);
    FILE *out = fopen(scratch, "w");
    if (!out) return 1;
    int extra = atoi(id) % 5 + 1;
    for (int i = 0; i < extra; i++) fprintf(out, "worker %s: %ld words, %ld lines (pass %d)\n", id, words, lines, i);
    fclose(out);
    snprintf(report, sizeof report, "/out/report-%s.txt", id);
    if (rename(scratch, report) != 0) return 1;
    snprintf(scratch, sizeof scratch, "/tmp/worker-%s", id);
    rmdir(scratch);

    FILE *conf = fopen("/etc/app.conf", "w");
    if (conf) {
        fprintf(conf, "mode=count\nlast-worker=%s\n", id);
        fclose(conf);
    }

    int reports = 0;
    DIR *d = opendir("/out");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') reports++;
    if (d) closedir(d);
    struct stat st;
    stat(report, &st);
    printf("%ld words, %ld lines; wrote %s (%lld bytes); sees %d report(s) in /out\n", words, lines, report,
           (long long)st.st_size, reports);
    return 0;
}
