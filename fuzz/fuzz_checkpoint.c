/* libFuzzer entry: checkpoints of fuzz/checkpoint.yaml's circuit (make fuzz). */
#include "targets.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return apical_fuzz_checkpoint(data, size); }
