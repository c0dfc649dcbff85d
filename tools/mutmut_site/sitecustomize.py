"""Hands the functions a Python subprocess went through back to the test that started it.

`make mutation` (tools/mutation.py) puts this folder on PYTHONPATH, so every Python the suite
starts loads it. mutmut maps each test to the functions it reaches from inside its own process
only; many tests run the program or a CLI in a subprocess (`python -m tools.mockrun`, `python -m
ops...`). At exit such a process writes what it reached into $WAL_MUTATION_REACHED, and
tests/conftest.py credits it to the running test. Nothing happens outside that mapping run.
"""

import atexit
import json
import os
import sys


def _hand_back() -> None:
    folder = os.environ.get("WAL_MUTATION_REACHED")
    state = sys.modules.get("mutmut.state")
    if os.environ.get("MUTANT_UNDER_TEST") != "stats" or not folder or state is None:
        return
    reached = sorted(state.state()._stats)
    if reached:
        with open(os.path.join(folder, f"{os.getpid()}.json"), "w") as out:
            json.dump(reached, out)


atexit.register(_hand_back)
