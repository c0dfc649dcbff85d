"""app/Dockerfile builds where only the base image and a package index are reachable, from any Python base image."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "app" / "Dockerfile"
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PEM = "-----BEGIN CERTIFICATE-----\nMIIBproxyCA\n-----END CERTIFICATE-----"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def stages(text: str) -> dict[str, Stage]:
    """The Dockerfile's stages by name, each with its instructions (continuation lines joined, comments dropped)."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    found: dict[str, Stage] = {}
    stage: Stage | None = None
    for instruction in logical:
        keyword, _, args = instruction.partition(" ")
        if keyword.upper() == "FROM":
            base, _, name = args.partition(" AS ")
            stage = found.setdefault(name.strip(), Stage(name.strip(), base.strip()))
        elif stage is not None:
            stage.instructions.append((keyword.upper(), args.strip()))
    return found


STAGES = stages(DOCKERFILE.read_text())


def test_no_frontend_image_is_pulled() -> None:
    """A `# syntax=` directive makes BuildKit pull that frontend from Docker Hub before reading a line: an
    air-gapped build, or one against a registry mirror, fails before its base image is even looked at."""
    directives = []
    for line in DOCKERFILE.read_text().splitlines():
        if not re.match(r"#\s*\w+\s*=", line):
            break
        directives.append(line)
    assert not [d for d in directives if re.match(r"#\s*syntax\s*=", d, re.I)], directives
    # Nor anything only a newer frontend than Docker 20.10's built-in one reads.
    text = DOCKERFILE.read_text()
    for feature in ("--mount=", "--link", "--chmod", "--parents", "--checksum", "--exclude", "<<"):
        assert feature not in text, f"{feature} needs a `# syntax=` frontend on older Docker engines"


def test_the_standard_library_is_compiled_where_the_interpreter_keeps_it(tmp_path: Path) -> None:
    """The path names the minor version (/usr/local/lib/python3.12 in the pinned image, /usr/lib/python3.13 in
    Debian's): a hard-coded one fails the build with any other PYTHON_IMAGE."""
    [compile_run] = [run for run in STAGES["production"].args("RUN") if "compileall" in run]
    calls = tmp_path / "calls"
    shim = tmp_path / "bin" / "python"
    shim.parent.mkdir()
    # `python -m compileall ...` is recorded; anything else runs the real interpreter.
    shim.write_text(
        f'#!/bin/sh\nif [ "$1 $2" = "-m compileall" ]; then shift 2; printf "%s\\n" "$@" > {calls}; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}"}
    subprocess.run(["sh", "-c", compile_run], env=env, check=True, timeout=60)
    assert calls.read_text().splitlines()[-1] == sysconfig.get_path("stdlib")
    for stage in STAGES.values():
        for keyword, args in stage.instructions:
            assert not re.search(r"python3\.\d+", args), f"{stage.name}: {keyword} {args} names a Python version"


def test_pip_takes_a_ca_and_an_index_in_the_build_stages_only() -> None:
    base = STAGES["base"]
    assert {'PIP_EXTRA_CA_PEM=""', 'PIP_INDEX_URL=""'} <= set(base.args("ARG"))
    [env] = base.args("ENV")
    assert "PIP_CERT=${PIP_EXTRA_CA_PEM:+/etc/ssl/pip-ca.pem}" in env.split()
    assert "PIP_INDEX_URL=${PIP_INDEX_URL}" in env.split()
    assert STAGES["builder"].base == "base" and STAGES["development"].base == "base"
    # The production image starts over from the base image: neither setting nor the bundle reaches it.
    production = STAGES["production"]
    assert production.base == "${PYTHON_IMAGE}"
    assert not [i for i in production.instructions if "PIP_" in i[1] or "pip-ca" in i[1]], production.instructions
    assert production.args("COPY") == ["--from=builder /opt/venv /opt/venv"]


def _write_bundle(pem: str | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The base stage's RUN, with PIP_CERT as its ENV line computes it, moved into tmp_path."""
    [env_line] = STAGES["base"].args("ENV")
    [cert] = [item.split("=", 1)[1] for item in env_line.split() if item.startswith("PIP_CERT=")]
    cert = cert.replace("/etc/ssl/pip-ca.pem", str(tmp_path / "pip-ca.pem"))
    env = {"PATH": os.environ["PATH"], "PIP_EXTRA_CA_PEM": pem or ""}
    # The Dockerfile's ${VAR:+word} is the shell's.
    env["PIP_CERT"] = subprocess.run(
        ["sh", "-c", f'printf %s "{cert}"'], env=env, capture_output=True, text=True, check=True
    ).stdout
    [run] = STAGES["base"].args("RUN")
    return subprocess.run(["sh", "-c", run], env=env, capture_output=True, text=True, check=False, timeout=30)


def test_the_ca_is_added_to_the_base_images_bundle(tmp_path: Path) -> None:
    result = _write_bundle(PEM, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pip-ca.pem").read_text() == SYSTEM_BUNDLE.read_text() + PEM + "\n"


def test_without_a_ca_nothing_changes_for_pip(tmp_path: Path) -> None:
    """Unset, the build arguments become empty PIP_CERT and PIP_INDEX_URL, which pip ignores: PyPI, default trust."""
    result = _write_bundle(None, tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
    probe = (
        "from pip._internal.commands import create_command\n"
        "options, _ = create_command('install').parse_args([])\n"
        "print(options.index_url, options.cert)\n"
    )
    # As in a build container: no pip configuration besides the environment (this machine's is set aside).
    env = {"PATH": os.environ["PATH"], "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "", "PIP_CERT": ""}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["https://pypi.org/simple", "None"]
