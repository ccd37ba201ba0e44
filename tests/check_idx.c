/*
 * The IDX loader: files written here byte by byte load with the right
 * shape and contents; every way of being wrong (magic, type, dimensions,
 * truncation, trailing bytes, missing file) is refused with a message that
 * names the file and the fault.  The real MNIST files, where scripts/
 * mnist-data has fetched them (a data directory's mnist/), load as 60000 +
 * 10000 images of 28 x 28.
 */
#include <stdio.h>
#include <unistd.h>

#include <zlib.h>

#include "testutil.h"
#include "yamlutil.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/apical-idx-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *write_file(const char *name, const unsigned char *b, size_t n)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
    return path;
}

/* 2 images of 2 x 3, then 2 labels */
static const unsigned char images[] = { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3,
                                        1, 2, 3, 4, 5, 6, 255, 0, 7, 8, 9, 10 };
static const unsigned char labels[] = { 0, 0, 8, 1, 0, 0, 0, 2, 7, 3 };

START_TEST(reads_images_and_labels)
{
    apical_idx x;
    char err[512];
    ck_assert_int_eq(apical_idx_read(write_file("img", images, sizeof images), &x, err, sizeof err), 0);
    ck_assert_uint_eq(x.n_dims, 3);
    ck_assert_uint_eq(x.dims[0], 2);
    ck_assert_uint_eq(x.dims[2], 3);
    ck_assert_uint_eq(x.count, 12);
    ck_assert_uint_eq(x.data[6], 255);
    ck_assert_uint_eq(x.data[11], 10);
    apical_idx_free(&x);
    ck_assert_int_eq(apical_idx_read(write_file("lab", labels, sizeof labels), &x, err, sizeof err), 0);
    ck_assert_uint_eq(x.n_dims, 1);
    ck_assert_uint_eq(x.data[0], 7);
    apical_idx_free(&x);
}
END_TEST

static void refused(const unsigned char *b, size_t n, const char *what)
{
    apical_idx x;
    char err[512] = "";
    const char *path = write_file("bad", b, n);
    ck_assert_int_ne(apical_idx_read(path, &x, err, sizeof err), 0);
    ck_assert_msg(strstr(err, path) && strstr(err, what), "expected '%s' in: %s", what, err);
    ck_assert_ptr_null(x.data);
}

START_TEST(refuses_what_is_wrong)
{
    unsigned char b[64];
    memcpy(b, images, sizeof images);
    refused(b, sizeof images - 1, "truncated");                     /* one byte short */
    refused(b, 10, "truncated IDX header");                         /* a dimension cut */
    refused(b, 2, "shorter than its 4-byte magic");
    b[sizeof images] = 1;
    refused(b, sizeof images + 1, "more after them");                /* trailing byte */
    memcpy(b, images, sizeof images);
    b[0] = 0x1f;                                                      /* gzip, not IDX */
    refused(b, sizeof images, "not an IDX file");
    b[0] = 0;
    b[2] = 0x0d;                                                      /* floats */
    refused(b, sizeof images, "element type 0x0d");
    b[2] = 8;
    b[3] = 0;
    refused(b, sizeof images, "with 0 dimensions");
    b[3] = 3;
    b[7] = 0;                                                         /* zero images */
    refused(b, sizeof images, "dimension 1 is 0");
    unsigned char huge[] = { 0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                             0xff, 0xff, 0xff, 0xff, 1, 2 };
    refused(huge, sizeof huge, "at most 1 TB");
    apical_idx x;
    char err[512];
    ck_assert_int_ne(apical_idx_read("/nonexistent/idx", &x, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
}
END_TEST

START_TEST(mnist_shapes_are_checked)
{
    apical_idx img, lab;
    char err[512];
    ck_assert_int_eq(apical_idx_read(write_file("img", images, sizeof images), &img, err, sizeof err), 0);
    ck_assert_int_eq(apical_idx_read(write_file("lab", labels, sizeof labels), &lab, err, sizeof err), 0);
    ck_assert_int_ne(apical_mnist_check(&img, &lab, "test", err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "28 x 28"));
    apical_idx_free(&img);
    apical_idx_free(&lab);
}
END_TEST

START_TEST(real_mnist_where_fetched)
{
    char data[2048], base[2100] = "", path[2300], err[512];
    for (int i = 0; !base[0] && apical_data_dir(i, data, sizeof data) == 0; i++) {
        snprintf(path, sizeof path, "%s/mnist/train-images-idx3-ubyte", data);
        if (access(path, R_OK) == 0)
            snprintf(base, sizeof base, "%s/mnist", data);
    }
    if (!base[0]) {
        fprintf(stderr, "no MNIST in the data directories: run scripts/mnist-data to test the "
                        "real files\n");
        return;
    }
    const char *sets[2][3] = { { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "train" },
                               { "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "test" } };
    const size_t want[2] = { 60000, 10000 };
    for (int k = 0; k < 2; k++) {
        apical_idx img, lab;
        snprintf(path, sizeof path, "%s/%s", base, sets[k][0]);
        ck_assert_msg(apical_idx_read(path, &img, err, sizeof err) == 0, "%s", err);
        snprintf(path, sizeof path, "%s/%s", base, sets[k][1]);
        ck_assert_msg(apical_idx_read(path, &lab, err, sizeof err) == 0, "%s", err);
        ck_assert_msg(apical_mnist_check(&img, &lab, sets[k][2], err, sizeof err) == 0, "%s", err);
        ck_assert_uint_eq(img.dims[0], want[k]);
        size_t per[10] = { 0 };
        for (size_t i = 0; i < lab.count; i++)
            per[lab.data[i]]++;
        for (int c = 0; c < 10; c++) /* every class, none far from a tenth */
            ck_assert(per[c] > want[k] / 20 && per[c] < want[k] / 5);
        fprintf(stderr, "%s: %zu images of 28 x 28, labels 0-9\n", sets[k][2], img.dims[0]);
        apical_idx_free(&img);
        apical_idx_free(&lab);
    }
}
END_TEST

/* gzip'd IDX (how Debian ships Fashion-MNIST) reads through the same
   checks; a cut gzip stream is refused. */
START_TEST(reads_gzip)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/img.gz", dir);
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, images, sizeof images), (int)sizeof images);
    ck_assert_int_eq(gzclose(g), Z_OK);
    apical_idx x;
    ck_assert_msg(apical_idx_read(path, &x, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(x.count, 12);
    ck_assert_uint_eq(x.data[6], 255);
    ck_assert_uint_eq(x.data[11], 10);
    apical_idx_free(&x);
    /* the same file cut short: inflating fails, or the data come up short */
    FILE *f = fopen(path, "rb");
    unsigned char buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_file("cut.gz", buf, n - 12);
    snprintf(path, sizeof path, "%s/cut.gz", dir);
    ck_assert_int_ne(apical_idx_read(path, &x, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "cut.gz") != NULL, "%s", err);
}
END_TEST

/* Fashion-MNIST from Debian's dataset-fashion-mnist, where installed. */
START_TEST(fashion_mnist_where_installed)
{
    const char *base = "/usr/share/datasets/fashion-mnist";
    char img_path[512], lab_path[512], err[512];
    snprintf(img_path, sizeof img_path, "%s/train-images-idx3-ubyte.gz", base);
    snprintf(lab_path, sizeof lab_path, "%s/train-labels-idx1-ubyte.gz", base);
    if (access(img_path, R_OK) != 0) {
        fprintf(stderr, "no %s (apt-get install dataset-fashion-mnist)\n", img_path);
        return;
    }
    apical_idx img, lab;
    ck_assert_msg(apical_idx_read(img_path, &img, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(apical_idx_read(lab_path, &lab, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(apical_mnist_check(&img, &lab, "fashion", err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(img.dims[0], 60000);
    fprintf(stderr, "fashion-mnist: %zu images of 28 x 28 from %s\n", img.dims[0], base);
    apical_idx_free(&img);
    apical_idx_free(&lab);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("idx");
    TCase *t = tcase_create("idx");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, reads_images_and_labels);
    tcase_add_test(t, refuses_what_is_wrong);
    tcase_add_test(t, mnist_shapes_are_checked);
    tcase_add_test(t, real_mnist_where_fetched);
    tcase_add_test(t, reads_gzip);
    tcase_add_test(t, fashion_mnist_where_installed);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
