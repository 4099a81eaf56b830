"""Local-version builds (``+cu121``) against the indexes a set names (AL301, AL302, AL107)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attnlock.check.context import InstallSet
from attnlock.check.findings import Finding
from attnlock.model import Target

if TYPE_CHECKING:
    from attnlock.database import Database
from attnlock.check.rules._base import (
    _finding,
    _index_variant,
    _label,
    _variant_of_label,
    render,
)


def index_rules(iset: InstallSet, target: Target, db: Database | None) -> list[Finding]:
    """Local-version builds (``+cu121``) against the indexes the set names."""
    if iset.kind in ("uv.lock", "pylock"):
        return []
    out: list[Finding] = []
    for e in iset.entries:
        version = e.exact_version
        label = _label(version)
        variant = _variant_of_label(label)
        if version is None or variant is None or (e.requirement is not None and e.requirement.url):
            continue
        name = e.name or ""
        serving = [d for d in iset.indexes
                   if d.option != "tool.uv.index" or not d.explicit or name in d.packages]
        if not serving:
            out.append(_finding(
                "AL301", e, f"{e.text!r} is a {label} build, which only the PyTorch index for {label} serves; "
                "this file names no index, so the default index is searched and the install fails",
                [name], _index_fix(iset, label, name, db)))
            continue
        labelled = [(d, _index_variant(d)) for d in serving]
        variants = {v.label for _, v in labelled if v is not None}
        if variants and variant.label not in variants:
            only = sorted(variants)
            new = render(e.requirement, specifier=f"=={version.public}+{only[0]}", original=e.text) if (
                len(only) == 1 and e.requirement is not None) else None
            out.append(_finding(
                "AL302", e, f"{name} is pinned to a {label} build but the configured index serves "
                f"{', '.join(only)} builds", [name],
                new or f"pin {name}=={version.public}+<{'|'.join(only)}> or use the {label} index", new))
    if target.cuda is not None:
        for e in iset.entries:
            label = _label(e.exact_version)
            variant = _variant_of_label(label)
            if variant is not None and variant != target.cuda and e.exact_version is not None and e.requirement:
                new = render(e.requirement, specifier=f"=={e.exact_version.public}+{target.cuda.label}", original=e.text)
                out.append(_finding("AL107", e, f"{e.name} is pinned to a {label} build; the target is "
                                    f"{target.cuda.label}", [e.name or ""], new, new))
    return out


def index_url(db: Database | None, label: str | None) -> str | None:
    """The PyTorch index URL of a variant label, from ``data/curated/torch.toml`` ``[index] url_template``."""
    if db is None or not label:
        return None
    from attnlock.compat import model_for

    return model_for(db).index_url(label)


def _index_fix(iset: InstallSet, label: str | None, name: str, db: Database | None) -> str:
    url = index_url(db, label)
    where = url or f"<the PyTorch index for {label}>"
    if iset.kind == "pyproject":
        return (f"[[tool.uv.index]] name = \"pytorch-{label}\" url = \"{where}\" explicit = true, and "
                f"[tool.uv.sources] {name} = {{ index = \"pytorch-{label}\" }}")
    return f"pip install --index-url {where} --extra-index-url <your default index> -r {iset.name}"


