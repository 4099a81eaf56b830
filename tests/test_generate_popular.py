"""constraints/ must be exactly what the shipped data/ generates (CI fails on drift)."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnlock.database import load
from attnlock.emit.popular import regenerate, targets

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "constraints"


def _files(d: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(d.iterdir()) if p.suffix in (".txt", ".json")}


def test_committed_constraints_match_the_data(tmp_path: Path) -> None:
    db = load(ROOT / "data")
    count = regenerate(tmp_path, db)
    fresh, committed = _files(tmp_path), _files(COMMITTED)
    missing = sorted(set(fresh) - set(committed))
    stale = sorted(set(committed) - set(fresh))
    changed = sorted(n for n in set(fresh) & set(committed) if fresh[n] != committed[n])
    assert not (missing or stale or changed), (
        f"constraints/ drifted from data/ (missing {missing[:5]}, stale {stale[:5]}, changed {changed[:5]}); "
        "regenerate: python -m attnlock.emit.popular constraints/")
    assert count == len([n for n in fresh if n.endswith(".txt")]) > 0


def test_regeneration_is_idempotent_and_removes_stale_files(tmp_path: Path) -> None:
    db = load(ROOT / "data")
    regenerate(tmp_path, db)
    (tmp_path / "torch9.9-cu999-py3.99-linux-x86_64.txt").write_text("stale\n")
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    regenerate(tmp_path, db)
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert "torch9.9-cu999-py3.99-linux-x86_64.txt" not in after
    assert all(after[n] == before[n] for n in after), "unchanged files must not be rewritten"


def test_every_torch_minor_from_2_1_that_the_data_has_is_covered() -> None:
    db = load(ROOT / "data")
    names = [n for n, _ in targets(db)]
    minors = {n.split("-")[0] for n in names}
    have = {f"torch{r.version.major}.{r.version.minor}" for r in db.releases("torch")
            if (2, 1) <= (r.version.major, r.version.minor) <= (2, 15) and not r.version.is_prerelease
            and db.torch_variants(r.version) is not None}
    assert minors == have


def test_the_header_command_regenerates_the_file_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    from attnlock.cli import main

    for name in ("ATTNLOCK_TORCH", "ATTNLOCK_CUDA", "ATTNLOCK_PYTHON", "ATTNLOCK_PLATFORM", "ATTNLOCK_GPU",
                 "ATTNLOCK_CUDA_DRIVER", "ATTNLOCK_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATTNLOCK_DATA_DIR", str(ROOT / "data"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "constraints").mkdir()
    committed = sorted(COMMITTED.glob("torch*.txt"))
    for path in (committed[0], committed[len(committed) // 2], committed[-1]):
        header = next(ln for ln in path.read_text().splitlines() if ln.startswith("# Regenerate: "))
        argv = shlex.split(header.removeprefix("# Regenerate: "))
        assert argv[:2] == ["attnlock", "generate"]
        assert main(argv[1:]) == 0
        assert (tmp_path / "constraints" / path.name).read_text() == path.read_text()
