"""The published pre-commit hook, run by the real ``pre-commit try-repo`` on a scratch repository.

pre-commit pip-installs a copy of this repository into its own virtualenv, so the hook's
dependencies (hatchling to build, packaging, resolvelib, tomlkit) come from
``$ATTNLOCK_TEST_WHEELHOUSE`` when scripts/test provides one (offline), else from the package
index of the scrubbed environment: the test is ``slow``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.installers import installer_env

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_DATA = Path(__file__).parent / "fixtures" / "check" / "data"

pytestmark = pytest.mark.slow


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=attnlock-test", "-c", "user.email=test@example.invalid",
                    "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                   cwd=cwd, check=True, capture_output=True, timeout=60)


def _hook_repository(dest: Path) -> Path:
    """A git repository holding this checkout's package, data and hook definition."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "attnlock", dest / "attnlock", ignore=ignore)
    shutil.copytree(ROOT / "data", dest / "data", ignore=ignore)
    for name in ("pyproject.toml", "hatch_build.py", ".pre-commit-hooks.yaml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    if not (dest / "README.md").exists():
        (dest / "README.md").write_text("attnlock\n")
    _git(dest, "init", "-q")
    _git(dest, "add", ".")
    _git(dest, "commit", "-q", "-m", "hook repository")
    return dest


def _try_repo(project: Path, hooks: Path, home: Path) -> subprocess.CompletedProcess[str]:
    extra = {"PRE_COMMIT_HOME": str(home), "ATTNLOCK_DATA_DIR": str(FIXTURE_DATA), "NO_COLOR": "1"}
    wheelhouse = os.environ.get("ATTNLOCK_TEST_WHEELHOUSE")
    if wheelhouse:  # scripts/test downloads the hook's build backend and dependencies: install offline
        extra.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=wheelhouse)
    env = installer_env(extra)
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hooks), "attnlock-check",
                           "--all-files", "--color", "never"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=590)


def test_pre_commit_try_repo_fails_then_passes(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    hooks = _hook_repository(tmp_path / "hooks")
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("torch==2.3.0\nxformers==0.0.27\n")
    (project / "constraints.txt").write_text("torch[cuda]==2.3.0\n")
    (project / "notes.txt").write_text("xformers==0.0.27 is not checked here\n")
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "commit", "-q", "-m", "broken pins")

    first = _try_repo(project, hooks, tmp_path / "pre-commit-home")
    out = first.stdout + first.stderr
    assert first.returncode == 1, out
    assert "- hook id: attnlock-check" in out and "- exit code: 1" in out
    assert re.search(r"requirements\.txt:2:1: AL101 xformers 0\.0\.27 requires torch==2\.3\.1", out), out
    assert "constraints.txt:1:1: AL401" in out
    assert "notes.txt" not in out  # the files pattern keeps other text files out

    (project / "requirements.txt").write_text("torch==2.3.0\nxformers==0.0.26.post1\n")
    (project / "constraints.txt").write_text("torch==2.3.0\n")
    _git(project, "add", ".")
    second = _try_repo(project, hooks, tmp_path / "pre-commit-home")
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"attnlock check\.+Passed", second.stdout), second.stdout
