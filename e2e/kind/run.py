"""`make e2e-kind`: the product's kind cluster on the real Docker (cluster_check), then the dev stack from nothing by
`make up` and down again by `make down` (workload_check); `E2E_KEEP=1` keeps the stack and prints how to look
around."""

from __future__ import annotations

import os
import sys
import time

from e2e.kind import cluster_check, workload_check


def main() -> int:
    keep = os.environ.get("E2E_KEEP") == "1"
    started = time.monotonic()
    look_around: list[str] = []
    code = cluster_check.main([])
    if code == 0:
        code = workload_check.main(look_around, keep)
    if code != 0 or not keep:
        # Whatever a failed run left; after make down, nothing.
        cluster_check.delete()
    print(f"e2e-kind {'passed' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s", flush=True)
    if keep:
        print("\n".join(look_around))
    return code


if __name__ == "__main__":
    sys.exit(main())
