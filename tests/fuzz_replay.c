/*
 * Every file of tests/corpus/{yaml,csv,idx,checkpoint,sweep} (the fuzzers' corpus: the project's
 * own files plus what fuzzing found) through the fuzz targets, as an
 * ordinary test: no crash, no abort, no sanitizer report in the sanitizer
 * build.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "targets.h"

static int replay(const char *dir, int (*target)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz_replay: no %s\n", dir);
        exit(1);
    }
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static uint8_t buf[1 << 20];
        size_t size = fread(buf, 1, sizeof buf, f);
        fclose(f);
        target(buf, size);
        n++;
    }
    closedir(d);
    return n;
}

int main(void)
{
    const char *src = getenv("APICAL_SRCDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/corpus/yaml", src ? src : ".");
    int y = replay(dir, apical_fuzz_yaml);
    snprintf(dir, sizeof dir, "%s/tests/corpus/csv", src ? src : ".");
    int c = replay(dir, apical_fuzz_csv);
    snprintf(dir, sizeof dir, "%s/tests/corpus/idx", src ? src : ".");
    int x = replay(dir, apical_fuzz_idx);
    snprintf(dir, sizeof dir, "%s/tests/corpus/checkpoint", src ? src : ".");
    int k = replay(dir, apical_fuzz_checkpoint);
    snprintf(dir, sizeof dir, "%s/tests/corpus/sweep", src ? src : ".");
    int w = replay(dir, apical_fuzz_sweep);
    printf("replayed %d YAML, %d CSV, %d IDX, %d checkpoint and %d sweep corpus files\n", y, c,
           x, k, w);
    return y > 10 && c > 3 && x > 2 && k > 3 && w > 3 ? 0 : 1;
}
