/*
 * data_cli.c -- apical data.
 *
 *   apical data              the data directories, and whether MNIST is in one
 *   apical data mnist [DIR]  fetch MNIST into DIR (default: mnist/ in the
 *                            first data directory) and check its MD5 sums
 *
 * A file a circuit names by a relative path is looked up beside the circuit
 * file, then in the data directories (apical_data_dir: $APICAL_DATA, then
 * ${XDG_DATA_HOME:-$HOME/.local/share}/apical).  The fetch is the script
 * mnist-data, installed in $(pkglibexecdir); a build tree's apical runs its
 * scripts/mnist-data instead.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_cli.h"
#include "yamlutil.h"

static const char *const mnist_files[] = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                                           NULL };

/* Whether dir holds the four MNIST files (their sums are the fetch's check). */
static int has_mnist(const char *dir)
{
    char path[4300];
    for (int k = 0; mnist_files[k]; k++) {
        snprintf(path, sizeof path, "%.4200s/%s", dir, mnist_files[k]);
        if (access(path, R_OK) != 0)
            return 0;
    }
    return 1;
}

static int list_dirs(void)
{
    char dir[4096], mnist[4200], found[4200] = "";
    const char *env = getenv("APICAL_DATA");
    printf("Files a circuit names by a relative path are looked up beside the circuit file, "
           "then in:\n");
    int n = 0;
    for (int i = 0; apical_data_dir(i, dir, sizeof dir) == 0; i++, n++) {
        printf("  %s%s\n", dir, i == 0 && env && *env ? "   ($APICAL_DATA)" : "");
        snprintf(mnist, sizeof mnist, "%s/mnist", dir);
        if (!found[0] && has_mnist(mnist))
            snprintf(found, sizeof found, "%s", mnist);
    }
    if (n == 0) {
        printf("  (none: set APICAL_DATA or HOME)\n");
        return 0;
    }
    apical_data_dir(0, dir, sizeof dir);
    if (found[0])
        printf("MNIST: %s\n", found);
    else
        printf("MNIST not found; `apical data mnist` fetches it into %s/mnist\n", dir);
    return 0;
}

/* The mnist-data script: a build tree's own (this executable in
   BUILD/runner/.libs/), else the installed one. */
static int find_helper(char *out, size_t cap)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *cut = strstr(self, "/runner/.libs/");
        if (cut && !strchr(cut + strlen("/runner/.libs/"), '/')) {
            snprintf(out, cap, "%.*s/scripts/mnist-data", (int)(cut - self), self);
            if (access(out, R_OK) == 0)
                return 0;
        }
    }
    snprintf(out, cap, "%s/mnist-data", APICAL_LIBEXECDIR);
    return access(out, R_OK) == 0 ? 0 : -1;
}

static int fetch_mnist(const char *dest)
{
    char dir[4200], helper[4200];
    if (dest)
        snprintf(dir, sizeof dir, "%s", dest);
    else if (apical_data_dir(0, helper, sizeof helper) == 0)
        snprintf(dir, sizeof dir, "%.4090s/mnist", helper);
    else {
        fprintf(stderr, "apical: no data directory: set APICAL_DATA (or HOME), or name one: "
                        "apical data mnist DIR\n");
        return 2;
    }
    if (find_helper(helper, sizeof helper) != 0) {
        fprintf(stderr, "apical: %s is missing (make install puts it there)\n", helper);
        return 1;
    }
    fflush(stdout);
    execl("/bin/sh", "sh", helper, dir, (char *)NULL);
    fprintf(stderr, "apical: cannot run /bin/sh %s: %s\n", helper, strerror(errno));
    return 1;
}

int apical_cmd_data(const apical_cli_cmd *cmd, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1])
            return apical_cli_fail(cmd, "unknown option '%s'", argv[i]);
    if (argc == 0)
        return list_dirs();
    if (strcmp(argv[0], "mnist") != 0)
        return apical_cli_fail(cmd, "unknown data set '%s' (apical data knows mnist)", argv[0]);
    if (argc > 2)
        return apical_cli_fail(cmd, "one DIR at most, found '%s' too", argv[2]);
    return fetch_mnist(argc == 2 ? argv[1] : NULL);
}
