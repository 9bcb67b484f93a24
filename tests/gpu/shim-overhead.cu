/*
 * shim-overhead.cu - the wall-clock cost of a kernel launch and of an allocate-and-free pair on
 * the real driver, to be run with and without libmigshim.so (bench/README.md, "libmigshim on a
 * GPU"). Needs a GPU; run by tests/gpu/device-run.sh, never by ctest.
 *
 *     shim-overhead [BATCHES] [REPEATS]
 *
 * Launches are timed in batches of LAUNCH_BATCH with a synchronisation between batches, left
 * out of the time: the launch queue then never fills, so the time is the CPU's cost of
 * submitting (what the shim adds to), not the GPU's rate of running empty kernels. Each phase
 * is repeated REPEATS times and the median per operation printed, since a single run on a
 * shared machine can be disturbed.
 */
#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

/* Below the launch queue's depth (about a thousand pending launches on current drivers), so a
 * batch never blocks on the GPU. */
#define LAUNCH_BATCH 256
#define SMALL        256 /* bytes: the smallest allocation, a reserve hit under the shim */

__global__ void empty() {}

static double now_ns()
{
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int main(int argc, char **argv)
{
    int batches = argc > 1 ? atoi(argv[1]) : 200, reps = argc > 2 ? atoi(argv[2]) : 9;
    cudaFree(0);
    cudaFunction_t rf;
    if (cudaGetFuncBySymbol(&rf, (const void *)empty) != cudaSuccess) {
        printf("cudaGetFuncBySymbol failed\n");
        return 1;
    }
    CUfunction f = (CUfunction)rf;
    CUstream s;
    cuStreamCreate(&s, CU_STREAM_NON_BLOCKING);
    std::vector<double> drv, rt, alloc;
    for (int r = 0; r < reps + 1; r++) { /* the first repeat warms up and is dropped */
        double t = 0;
        for (int b = 0; b < batches; b++) {
            double t0 = now_ns();
            for (int i = 0; i < LAUNCH_BATCH; i++)
                cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, s, nullptr, nullptr);
            t += now_ns() - t0;
            cuStreamSynchronize(s);
        }
        double u = 0;
        for (int b = 0; b < batches; b++) {
            double t0 = now_ns();
            for (int i = 0; i < LAUNCH_BATCH; i++)
                empty<<<1, 32, 0, (cudaStream_t)s>>>();
            u += now_ns() - t0;
            cuStreamSynchronize(s);
        }
        int n = batches * LAUNCH_BATCH / 10;
        double t0 = now_ns();
        for (int i = 0; i < n; i++) {
            CUdeviceptr p;
            if (cuMemAlloc(&p, SMALL) != CUDA_SUCCESS) {
                printf("cuMemAlloc failed\n");
                return 1;
            }
            cuMemFree(p);
        }
        double a = (now_ns() - t0) / n;
        if (r) {
            drv.push_back(t / (batches * LAUNCH_BATCH));
            rt.push_back(u / (batches * LAUNCH_BATCH));
            alloc.push_back(a);
        }
    }
    printf("cuLaunchKernel %.1f ns; <<<>>> %.1f ns; cuMemAlloc(%d)+cuMemFree %.1f ns "
           "(medians of %d repeats)\n",
           median(drv), median(rt), SMALL, median(alloc), reps);
    return 0;
}
