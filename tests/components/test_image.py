"""components.image.source_revision: the image tag and version label come from app/ alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

from components.image import content_hash, source_revision


def git(repo: Path, *args: str) -> str:
    env_args = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    proc = subprocess.run(["git", *env_args, *args], cwd=repo, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def commit(repo: Path, path: str, text: str, message: str) -> str:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "log", "-1", "--format=%h", "--abbrev=12")


def test_a_commit_outside_app_changes_nothing(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    app = tmp_path / "app"
    built = commit(tmp_path, "app/main.py", "print(1)\n", "app")
    assert source_revision(app) == built
    commit(tmp_path, "README.md", "docs\n", "README only")
    commit(tmp_path, "components/x.py", "x = 1\n", "the program only")
    assert source_revision(app) == built, "a README/program commit moved the image tag"
    (app / "main.py").write_text("print(2)\n")
    assert source_revision(app) == f"{built}-dirty"
    changed = commit(tmp_path, "app/main.py", "print(2)\n", "app again")
    assert changed != built and source_revision(app) == changed


def test_without_git_history_the_content_decides(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("print(1)\n")
    first = source_revision(app)
    assert first == f"src-{content_hash(app)}"
    (tmp_path / "README.md").write_text("docs\n")
    assert source_revision(app) == first
    (app / "main.py").write_text("print(2)\n")
    assert source_revision(app) != first


def test_bytecode_python_leaves_behind_does_not_move_the_tag(tmp_path: Path) -> None:
    """Running the service's tests writes __pycache__ under app/: the next `make up` must not rebuild for it."""
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "main.py").write_text("print(1)\n")
    before = content_hash(app)
    (app / "src" / "__pycache__").mkdir()
    (app / "src" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\x00bytecode")
    assert content_hash(app) == before
    (app / "src" / "util.py").write_text("")
    assert content_hash(app) != before, "a new source file, even empty, is a change"
