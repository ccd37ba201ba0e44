/* A module built for a future ABI major: the host must refuse it by name. */
#include "apical.h"

static const apical_library library = {
    .struct_size = sizeof(apical_library),
    .abi_major = APICAL_ABI_MAJOR + 1,
    .abi_minor = 3,
    .name = "bad_major",
    .version = "9.9.9",
};

const apical_library *apical_library_v1(uint32_t host_major, uint32_t host_minor)
{
    (void)host_major;
    (void)host_minor;
    return &library; /* misbehaves on purpose: does not check the host's major */
}
