"""Lock files: every install (make, `pulumi install`, CI, the workflows, the image) takes exact, hash-checked
versions, the locks agree with the *.in files they were compiled from, and the provider SDKs stay exact."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# lock -> the inputs `make lock` compiles it from
LOCKS: dict[str, tuple[str, ...]] = {
    "requirements.txt": ("requirements.in",),
    "requirements-dev.txt": ("requirements-dev.in", "app/pyproject.toml"),
    "requirements-checkov.txt": ("requirements-checkov.in",),
    "policy/requirements.txt": ("policy/requirements.in",),
    "app/requirements.lock": ("app/pyproject.toml",),
}
# The e2e toolchain builds the CLI and provider binaries that pair with these SDKs.
PROVIDER_SDKS = {
    "pulumi": "3.272.0",
    "pulumi-kubernetes": "4.25.0",
    "pulumi-docker": "5.2.0",
    "pulumi-command": "1.2.1",
    "pulumi-random": "4.21.4",
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock: str) -> dict[str, str]:
    """name -> version of every requirement in a lock; each must be `==` and carry at least one sha256 hash."""
    text = (ROOT / lock).read_text()
    entries = re.split(r"\n(?=[^\s#])", text)
    found: dict[str, str] = {}
    for entry in entries:
        first = entry.strip().splitlines()[0] if entry.strip() else ""
        if not first or first.startswith("#"):
            continue
        match = _PIN.match(first)
        assert match, f"{lock}: {first!r} is not pinned with =="
        assert "--hash=sha256:" in entry, f"{lock}: {match.group(1)} has no --hash"
        found[canonicalize_name(match.group(1))] = match.group(2)
    assert found, f"{lock} pins nothing"
    return found


def direct_requirements(source: str, extra: str = "") -> list[Requirement]:
    """The requirements a *.in file (following -r) or a pyproject.toml (plus one extra) names."""
    path = ROOT / source
    if path.suffix == ".toml":
        project = tomllib.loads(path.read_text())["project"]
        extras = project.get("optional-dependencies", {}).get(extra, []) if extra else []
        return [Requirement(r) for r in [*project["dependencies"], *extras]]
    result = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            result += direct_requirements(str(Path(source).parent / line[3:]))
        elif not line.startswith("-"):
            result.append(Requirement(line))
    return result


@pytest.mark.parametrize("lock", LOCKS)
def test_every_direct_requirement_is_locked_at_a_version_it_allows(lock: str) -> None:
    locked = pins(lock)
    for source in LOCKS[lock]:
        # make lock compiles the dev lock with the service's test extra (--extra test).
        for req in direct_requirements(source, "test" if lock == "requirements-dev.txt" else ""):
            if req.marker is not None and not req.marker.evaluate({"sys_platform": "linux"}):
                continue
            name = canonicalize_name(req.name)
            assert name in locked, f"{lock} lacks {req.name} ({source}); run: make lock"
            assert req.specifier.contains(locked[name], prereleases=True), (
                f"{lock} has {req.name}=={locked[name]}, outside {req.specifier} ({source}); run: make lock"
            )


def test_provider_sdks_are_exact_everywhere() -> None:
    declared = {canonicalize_name(r.name): str(r.specifier) for r in direct_requirements("requirements.in")}
    for name, version in PROVIDER_SDKS.items():
        assert declared[name] == f"=={version}", f"requirements.in must pin {name}=={version} exactly"
        for lock in ("requirements.txt", "requirements-dev.txt"):
            assert pins(lock)[name] == version, f"{lock} has {name}=={pins(lock)[name]}, not {version}"
    assert pins("policy/requirements.txt")["pulumi"] == PROVIDER_SDKS["pulumi"], "the policy pack runs another SDK"


def test_the_tests_run_the_versions_that_deploy_and_ship() -> None:
    dev = pins("requirements-dev.txt")
    for lock in ("requirements.txt", "app/requirements.lock"):
        for name, version in pins(lock).items():
            if name in dev:
                assert dev[name] == version, f"requirements-dev.txt has {name}=={dev[name]}, {lock} {version}"


def test_installs_use_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for lock in ("requirements-dev.txt", "requirements-checkov.txt", "policy/requirements.txt"):
        assert f"$(PIP_INSTALL) -r {lock}" in makefile, f"make installs {lock} hash-checked"
    assert "PIP_INSTALL = -m pip install --quiet --disable-pip-version-check --require-hashes" in makefile
    # `pulumi install` and the language host: Pulumi's pip toolchain installs requirements.txt into the virtualenv.
    for project in ("Pulumi.yaml", "policy/PulumiPolicy.yaml"):
        runtime = yaml.safe_load((ROOT / project).read_text())["runtime"]
        assert runtime["options"] == {"toolchain": "pip", "virtualenv": ".venv"}, project
    assert "COPY requirements.lock" in (ROOT / "app" / "Dockerfile").read_text()
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        for line in workflow.read_text().splitlines():
            if "pip install" in line:
                assert "--require-hashes -r " in line, f"{workflow.name}: {line.strip()}"
