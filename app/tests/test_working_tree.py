"""The suite tests this checkout's src/, in-process and in every server it starts.

A non-editable install of an older src/ in the virtualenv would otherwise win the import:
every test would pass against code that is no longer there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import wal_service
from tests.conftest import SRC, interpreter_env


def test_in_process_imports_come_from_src() -> None:
    where = Path(wal_service.__file__).resolve()
    assert where.is_relative_to(SRC), f"wal_service imported from {where}, not from {SRC}"


def test_server_processes_import_from_src() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import wal_service; print(wal_service.__file__)"],
        env=interpreter_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    )
    where = Path(proc.stdout.strip()).resolve()
    assert where.is_relative_to(SRC), f"a server imports wal_service from {where}, not {SRC}"
