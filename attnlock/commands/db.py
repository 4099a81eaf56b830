"""``attnlock db``: validate the database, show what it knows, refresh the derived facts."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from packaging.version import InvalidVersion, Version

from attnlock.errors import UsageError

_PLATFORM_FAMILIES = ("linux-x86_64", "linux-aarch64", "windows-amd64", "macos-arm64")


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "db_command", None)
    if action == "validate":
        return _validate(args)
    if action == "show":
        return _show(args)
    if action == "matrix":
        from attnlock.commands import db_matrix

        return db_matrix.run(args, _db(args))
    if action == "refresh":
        from attnlock.refresh import cli as refresh_cli

        return int(refresh_cli.run(args))
    raise UsageError("attnlock db needs an action", hint="attnlock db validate | show NAME [VERSION] | matrix | refresh")


def _db(args: argparse.Namespace) -> Any:
    from attnlock import database

    return database.load(getattr(args, "data_dir", None))


def _validate(args: argparse.Namespace) -> int:
    db = _db(args)
    problems = db.validate()
    if args.json:
        print(json.dumps({"root": str(db.root), "problems": [
            {"file": p.file, "key": p.key, "message": p.message} for p in problems]}, indent=2))
    else:
        for p in problems:
            print(str(p))
    n_derived = len(db.packages())
    n_curated = len(db.curated_files())
    if problems:
        print(f"attnlock db validate: {len(problems)} problem(s) in {db.root}", file=sys.stderr)
        return 1
    print(f"attnlock db validate: ok ({n_derived} derived, {n_curated} curated files in {db.root})", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ show

_TOPICS = {
    "cuda": ("cuda", "toolkit"),
    "gpus": ("gpus", "gpu"),
    "gpu": ("gpus", "gpu"),
    "known-bad": ("known_bad", "combination"),
    "signatures": ("signatures", "signature"),
    "kernels": ("kernels", None),
    "community": ("community", "source"),
}


def _show(args: argparse.Namespace) -> int:
    from attnlock.model import canonical

    db = _db(args)
    name = canonical(args.name)
    version: Version | None = None
    if args.version:
        try:
            version = Version(args.version)
        except InvalidVersion:
            raise UsageError(f"malformed version {args.version!r}", hint="write e.g. 2.3.1") from None
    if name in _TOPICS and not db.releases(name):
        stem, table = _TOPICS[name]
        doc = db.curated_raw(stem)
        data: Any = doc.get(table, []) if table else doc
        if args.json:
            print(json.dumps(data, indent=2, default=str))
        else:
            _print_records(data)
        return 0
    releases = db.releases(name)
    extra = _curated_for(db, name, version)
    if not releases and not extra:
        known = ", ".join(db.packages() + sorted(_TOPICS))
        raise UsageError(f"the database knows nothing about {args.name!r}", hint=f"known: {known}")
    if version is not None:
        rel = db.release(name, version)
        # an older release the default index no longer serves is an answer; a version past the newest is not
        older = bool(releases) and version <= releases[-1].version and "default_index" in extra
        if rel is None and not (older or _about_this_version(extra)):
            near = ", ".join(str(r.version) for r in releases[-8:])
            raise UsageError(f"{name} {version} is not in the database", hint=f"newest known: {near}")
        doc = _release_doc(db, rel) if rel is not None else {"package": name, "version": str(version)}
        doc.update(extra)
        if args.json:
            print(json.dumps(doc, indent=2, default=str))
        else:
            _print_release(doc)
        return 0
    summary = {
        "package": name,
        "checked": db.checked(name),
        "releases": [_release_line(db, r) for r in releases],
    }
    summary.update(extra)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    print(f"{name}: {len(releases)} releases (derived, checked {summary['checked']})")
    for line in summary["releases"]:
        bits = [f"{line['version']:<14}"]
        if line.get("requires_python"):
            bits.append(f"python {line['requires_python']}")
        if line.get("pins"):
            bits.append(", ".join(line["pins"]))
        if line.get("built_for"):
            bits.append("built for torch " + ", ".join(sorted(set(line["built_for"]))))
        if line.get("yanked"):
            bits.append("YANKED")
        print("  " + "  ".join(bits))
    for key, value in extra.items():
        _print_field(key, value, indent="")
    return 0


_INTERESTING = ("torch", "triton", "xformers", "jaxlib", "jax", "nvidia-cudnn-cu12", "nvidia-cudnn-cu13",
                "cuda-toolkit", "unsloth-zoo", "mslk", "pytorch-triton-rocm", "vllm", "vllm-flash-attn", "flash-attn")


def _release_line(db: Any, rel: Any) -> dict[str, Any]:
    from attnlock.model import canonical

    pins = []
    for req in rel.requirements():
        if canonical(req.name) in _INTERESTING and str(req.specifier):
            pins.append(f"{canonical(req.name)}{req.specifier}")
    built = [str(info.get("torch")) for info in rel.build_info.values() if isinstance(info, dict) and info.get("torch")]
    return {
        "version": str(rel.version),
        "requires_python": str(rel.requires_python) if rel.requires_python else None,
        "yanked": rel.yanked,
        "pins": pins,
        "built_for": built,
    }


def _release_doc(db: Any, rel: Any) -> dict[str, Any]:
    wheels: dict[str, list[str]] = {}
    from attnlock.model import Platform

    for fam in _PLATFORM_FAMILIES:
        plat = Platform.parse(fam)
        tags = sorted({t.interpreter for f in rel.wheels() if f.runs_on(plat, None) for t in f.tags})
        if tags:
            wheels[fam] = tags
    return {
        "package": rel.package,
        "version": str(rel.version),
        "yanked": rel.yanked,
        "requires_python": str(rel.requires_python) if rel.requires_python else None,
        "files": [f.filename for f in rel.files],
        "wheels_by_platform": wheels,
        "metadata": [{"source": m.source, "platforms": list(m.platforms), "requires_dist": list(m.requires_dist)}
                     for m in rel.metadata],
        "build_info": dict(rel.build_info),
    }


# Facts that hold for a range of versions: they say nothing about whether this version exists.
_RANGE_FACTS = frozenset({"known_bad", "end_of_life", "default_index", "torch_coupling"})


def _about_this_version(extra: dict[str, Any]) -> bool:
    """Whether the curated facts name this very version (a release known only from curated data, e.g.
    a flash-attn wheel on GitHub), not only ranges that happen to contain it (``torch 9.9.9``)."""
    return any(key not in _RANGE_FACTS and not (key == "wheel_build" and isinstance(value, str))
               for key, value in extra.items())


def _curated_for(db: Any, name: str, version: Version | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name == "torch" and version is not None:
        tv = db.torch_variants(version)
        if tv is not None:
            out["variants"] = {"pypi": tv.pypi.label if tv.pypi else None,
                               "pytorch_index": [v.label for v in tv.index], "source": tv.source}
    from attnlock.compat import model_for

    model = model_for(db)
    if name == "xformers" and version is not None:
        builds = model.xformers_release_builds(version)
        if builds:
            out["builds"] = [{"origin": b.origin, "index": b.index, "built_for": str(b.built_for),
                              "window": (w.describe(b.built_for) if (w := model.window(b)) else "exact"),
                              "source": b.evidence} for b in builds]
    if name in ("flash-attn", "flash-attn-3", "flash-attn-4"):
        wheels = db.flash_attn_wheels(name, version)
        if wheels:
            if version is None:
                per: dict[str, int] = {}
                for w in wheels:
                    per[str(w.version)] = per.get(str(w.version), 0) + 1
                out["prebuilt_wheels"] = per
            else:
                out["prebuilt_wheels"] = [w.url for w in wheels]
    engine = model.engine(name)
    if engine is not None:
        out["torch_coupling"] = {"coupling": engine.coupling, "exact_since": str(engine.exact_since),
                                 "other_builds": engine.other_builds, "source": engine.source}
        if version is None:
            out["torch_pins"] = [ln.words() for ln in model.engine_pin_lines(name)]
        build = model.engine_wheel_build(name, version) if version is not None else None
        if build is not None:
            out["wheel_build"] = {"torch_build": build.torch_build, "versions": str(build.versions),
                                  "source": build.source}
        elif version is not None:
            out["wheel_build"] = "unknown (no data/curated/engines.toml [[wheel_build]] covers it)"
    eol = model.end_of_life(name)
    if eol is not None:
        out["end_of_life"] = {"last": str(eol.last), "announced": eol.announced, "source": eol.source}
    presence = model.index_presence(name)
    if presence is not None and (version is None or presence.versions is None
                                 or presence.versions.contains(version, prereleases=True)):
        out["default_index"] = {"served": presence.served, "what": presence.what, "source": presence.source}
    if version is not None and (pairing := model.torch_pairing(name, version)) is not None:
        out["torch_pairing"] = {"torch": str(pairing.torch), "source": pairing.source}
    rel = db.release(name, version) if version is not None else None
    if rel is not None and rel.members:
        from attnlock.compat.packages import binary_cuda

        out["binaries_cuda"] = {wheel: list(labels) for wheel, labels in binary_cuda(rel).items()}
        rule = model.cuda_library_rule(name, rel.version)
        if rule is not None:
            out["cuda_library"] = {"match": rule.match, "source": rule.source}
    bad = [kb for kb in model.known_bad() if name in kb.packages
           and (version is None or kb.packages[name].contains(version, prereleases=True))]
    if bad:
        out["known_bad"] = [{"id": kb.id, "status": kb.status, "packages": {k: str(v) for k, v in kb.packages.items()},
                             "reason": kb.reason, "evidence": kb.evidence} for kb in bad]
    return out


# ------------------------------------------------------------------ human output
# Tables and sentences; JSON only with --json (issue 14).

_HEADS = ("id", "name", "version", "kernel", "package")
_LABELS = {"prebuilt_wheels": "prebuilt wheels (GitHub; release: files)", "pytorch_index_builds": "PyTorch-index builds"}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    return str(value)


def _words(key: str, value: Any) -> str:
    """One value in words: lists joined by commas, a requirement map as ``name<=1, other==2``."""
    if isinstance(value, dict):
        if key == "packages" and all(not isinstance(v, (dict, list)) for v in value.values()):
            return ", ".join(f"{k}{v}" for k, v in value.items())
        if all(not isinstance(v, (dict, list)) for v in value.values()):
            sep = ": " if key == "prebuilt_wheels" else " "
            return ", ".join(f"{k}{sep}{_scalar(v)}" for k, v in value.items())
        return "; ".join(f"{k}: {_words(k, v)}" for k, v in value.items())
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return ", ".join(_scalar(v) for v in value) or "-"
        return "; ".join(_words(key, v) for v in value)
    return _scalar(value)


def _print_field(key: str, value: Any, indent: str = "  ") -> None:
    """``key: value``; a list of records gets one indented line per record."""
    label = _LABELS.get(key, key.replace("_", " "))
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        print(f"{indent}{label}:")
        for rec in value:
            head = next((str(rec[h]) for h in _HEADS if rec.get(h)), "")
            rest = {k: v for k, v in rec.items() if str(v) != head or k not in _HEADS}
            body = "; ".join(f"{k.replace('_', ' ')}: {_words(k, v)}" for k, v in rest.items() if v not in (None, ""))
            print(f"{indent}  - {head + ': ' if head else ''}{body}")
        return
    if isinstance(value, list) and len(value) > 6 and all(isinstance(v, str) for v in value):
        print(f"{indent}{label}:")
        for v in value:
            print(f"{indent}  {v}")
        return
    print(f"{indent}{label}: {_words(key, value)}")


def _print_records(data: Any) -> None:
    """A curated table (cuda, gpus, known-bad, signatures, kernels) as one block per record."""
    if isinstance(data, dict):
        for section, records in data.items():
            print(f"{section}:")
            if isinstance(records, list):
                for rec in records:
                    _print_record(rec, indent="  ")
            else:
                _print_field(section, records)
        return
    for rec in data:
        _print_record(rec)


def _print_record(rec: Any, indent: str = "") -> None:
    if not isinstance(rec, dict):
        print(f"{indent}{_scalar(rec)}")
        return
    head_key = next((h for h in _HEADS if rec.get(h) and not isinstance(rec.get(h), (dict, list))), None)
    if head_key is not None:
        print(f"{indent}{rec[head_key]}")
    else:
        print(f"{indent}-")
    for key, value in rec.items():
        if key == head_key or value in (None, "", [], {}):
            continue
        _print_field(key, value, indent + "  ")


def _print_release(doc: dict[str, Any]) -> None:
    print(f"{doc.get('package')} {doc.get('version')}")
    for key, value in doc.items():
        if key in ("package", "version") or value in (None, "", [], {}):
            continue
        _print_field(key, value)
