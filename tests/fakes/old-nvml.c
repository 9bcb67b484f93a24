/*
 * old-nvml.c - a libnvidia-ml.so.1 of a driver that predates MIG: it has nvmlInit_v2,
 * nvmlShutdown, nvmlErrorString and nvmlDeviceGetCount_v2 (one GPU) and none of the MIG
 * functions. The tests load it to check that migkit names what is missing rather than
 * calling through a NULL pointer, and that `--backend auto` falls back to the simulator.
 */
#include "vendor/nvml.h"

#define OLD_EXPORT __attribute__((visibility("default")))

OLD_EXPORT mk_nvml_nvmlInit_v2_fn nvmlInit_v2;
OLD_EXPORT mk_nvml_nvmlShutdown_fn nvmlShutdown;
OLD_EXPORT mk_nvml_nvmlErrorString_fn nvmlErrorString;
OLD_EXPORT mk_nvml_nvmlDeviceGetCount_v2_fn nvmlDeviceGetCount_v2;

nvmlReturn_t nvmlInit_v2(void)
{
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void)
{
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
    return result == NVML_SUCCESS ? "Success" : "Unknown Error";
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    if (!deviceCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    *deviceCount = 1;
    return NVML_SUCCESS;
}
