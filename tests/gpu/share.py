#!/usr/bin/env python3
"""share.py - two processes of one software instance share its quota (docs/shim.md, "What
needs a GPU"). Needs a GPU and PyTorch; run by tests/gpu/device-run.sh under `migctl exec`,
never by ctest.

    share.py hold MIB DIR   allocates MIB MiB, writes DIR/ready, waits until DIR/stop exists
    share.py fill QUOTA     prints mem_get_info, allocates 256 MiB tensors until
                            torch.OutOfMemoryError, prints what it got; exit 0
"""
import os
import sys
import time

import torch

STEP = 256 << 20  # the block size of the fill: small against a quota, large against a chunk


def hold(mib, d):
    t = torch.empty(mib << 20, dtype=torch.uint8, device="cuda")
    free, total = torch.cuda.mem_get_info()
    print("holder: holds %d MiB; mem_get_info free %d total %d" % (mib, free, total), flush=True)
    open(os.path.join(d, "ready"), "w").close()
    while not os.path.exists(os.path.join(d, "stop")):
        time.sleep(0.05)
    del t


def fill(quota):
    free, total = torch.cuda.mem_get_info()
    print("filler: mem_get_info free %d total %d" % (free, total), flush=True)
    blocks = []
    try:
        while True:
            blocks.append(torch.empty(STEP, dtype=torch.uint8, device="cuda"))
    except torch.OutOfMemoryError:
        pass
    got = len(blocks) * STEP
    print("filler: allocated %d MiB before OutOfMemoryError (free at the start %d MiB)"
          % (got >> 20, free >> 20), flush=True)
    ok = total == quota and got <= free and got + 2 * STEP > free
    print("PASS" if ok else "FAIL", "two processes share the quota", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "hold":
        hold(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(fill(int(sys.argv[2])))
