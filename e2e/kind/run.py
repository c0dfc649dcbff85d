"""`make e2e-kind`: the product's kind cluster on the real Docker (cluster_check), then the dev stack's workload on
real pods (workload_check), then everything deleted; `E2E_KEEP=1` keeps it and prints how to look around."""

from __future__ import annotations

import os
import sys
import time

from e2e.kind import cluster_check, workload_check


def main() -> int:
    keep = os.environ.get("E2E_KEEP") == "1"
    started = time.monotonic()
    look_around: list[str] = []
    code = cluster_check.main(["--keep"])
    if code == 0:
        code = workload_check.main(look_around, destroy=not keep)
    if not keep:
        cluster_check.delete()
    print(f"e2e-kind {'passed' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s", flush=True)
    if keep:
        print("\n".join(look_around))
    return code


if __name__ == "__main__":
    sys.exit(main())
