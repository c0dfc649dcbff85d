"""Subprocess and CLI plumbing shared by the ops commands."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = ROOT / "bin"


class UserError(Exception):
    """A problem the user can fix; shown as one line, never as a traceback."""


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def first_error_line(self) -> str:
        """The most useful single line of a failed command's output."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1] if len(lines) == 1 else next((x for x in lines if "rror" in x), lines[0])
        return f"exit status {self.returncode}"


def tool_env(base: Mapping[str, str] | None = None, bin_dir: Path = BIN_DIR) -> dict[str, str]:
    """The environment with the project-local bin/ first on PATH (pinned downloads win)."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    return env


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    cwd: Path = ROOT,
) -> Result | None:
    """Run a command and capture its output; None when the program does not exist."""
    try:
        proc = subprocess.run(
            list(args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        return None
    except PermissionError:
        return Result(126, "", f"{args[0]}: permission denied")
    except subprocess.TimeoutExpired:
        return Result(124, "", f"{' '.join(args[:3])} gave no answer within {timeout:g} s")
    return Result(proc.returncode, proc.stdout, proc.stderr)


def command_line(args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The command as a user would type it: with the PULUMI_* variables `env` adds to the user's environment."""
    added = [
        f"{key}={shlex.quote(value)}"
        for key, value in sorted((env or {}).items())
        if key.startswith("PULUMI_") and os.environ.get(key) != value
    ]
    return " ".join([*added, *(shlex.quote(arg) for arg in args)])


def stream(args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 3600.0) -> int:
    """Run a long command with its output going straight to the terminal; bounded by `timeout`."""
    print(f"$ {command_line(args, env)}", flush=True)
    try:
        proc = subprocess.Popen(list(args), env=env, cwd=ROOT)
    except FileNotFoundError:
        raise UserError(f"{args[0]} is not installed; run: python -m ops.tools --install") from None
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGINT lets pulumi write its state before it stops.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        raise UserError(f"{args[0]} {args[1] if len(args) > 1 else ''} did not finish within {timeout:g} s") from None
    except KeyboardInterrupt:
        proc.wait(timeout=60)
        raise


def cli(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Turn user errors into one `error:` line and an exit status instead of a traceback."""

    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper
