/* targets.h -- fuzz targets shared by libFuzzer and the corpus replay. */
#ifndef APICAL_FUZZ_TARGETS_H
#define APICAL_FUZZ_TARGETS_H
#include <stddef.h>
#include <stdint.h>
int apical_fuzz_yaml(const uint8_t *data, size_t size);
int apical_fuzz_csv(const uint8_t *data, size_t size);
int apical_fuzz_idx(const uint8_t *data, size_t size);
int apical_fuzz_checkpoint(const uint8_t *data, size_t size);
int apical_fuzz_sweep(const uint8_t *data, size_t size);
#endif
