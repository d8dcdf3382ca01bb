"""Which models are related: the group of a model spec, and integer codes for group labels.

Rows of a study are not independent when two models share everything but a random draw: the two seeds
of ``minilm@perturb(alpha=10,seed=0)`` / ``seed=1`` are noise draws around one model, and their geometry
and scores move together. Cross-validation and permutation tests therefore treat a *group* of related
models as one unit (left out together, permuted together).

Group of a spec (:func:`model_group`): the base model plus the variant plus every variant parameter
except ``seed`` (the variant's seed is the noise draw). A ``zoo:`` base keeps its settings but not its
checkpoint: ``zoo:mlm(steps=400,at=100)`` and ``zoo:mlm(steps=400,at=200)`` are checkpoints of one
pre-training run, one group; ``zoo:mlm(seed=1)`` and ``zoo:mlm(seed=2)`` are two runs, and specs that
differ in ``steps`` are separate runs too (the learning-rate schedule depends on the total number of
steps, see ``pretrain.trainer._schedule``). Checkpoints of one run saved as other model folders are
grouped by passing the groups explicitly (``relate(groups=...)``, ``predict --group-col``).

The parsing is syntactic (no model is loaded, no path is checked) so that a results table can be grouped
after its model folders are gone; its grammar is that of :mod:`latentatlas.models.zoo`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BadInputError

_SPEC = re.compile(r"^(?P<base>[^@]+?)(?:@(?P<variant>\w+)(?:\((?P<args>.*)\))?)?$")
DROPPED_PARAM = "seed"
"""The variant parameter that does not define the group (the random draw)."""


def _top_level_args(text: str) -> list[str]:
    """``a=1, b=x@v(c=2,d=3)`` split at commas outside parentheses, stripped, empty parts dropped."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def model_group(spec: str) -> str:
    """The group of a model spec: ``BASE@VARIANT(params without seed)``; a spec without variant is its
    own group. Parameters are written sorted and without spaces, so equivalent spellings agree.

    >>> model_group("minilm@perturb(alpha=10,seed=1)")
    'minilm@perturb(alpha=10)'
    >>> model_group("zoo:mlm(steps=150)")
    'zoo:mlm(steps=150)'

    A string that is not a spec (a user's label) is returned stripped: its own group.
    """
    text = str(spec).strip()
    m = _SPEC.match(text)
    if m is None:
        return text
    base = _run_of(m.group("base").strip())
    if m.group("variant") is None:
        return base
    kept = [a for a in _top_level_args(m.group("args") or "")
            if a.partition("=")[0].strip() != DROPPED_PARAM]
    kept = sorted("=".join(x.strip() for x in a.partition("=")[::2]) for a in kept)
    return f"{base}@{m.group('variant')}({','.join(kept)})"


_ZOO_BASE = re.compile(r"^(?P<name>zoo:\w+)\((?P<args>[^()]*)\)$")
CHECKPOINT_PARAM = "at"
"""The ``zoo:`` argument naming a checkpoint of a run (not part of the run's identity)."""


def _run_of(base: str) -> str:
    """A ``zoo:`` base without its checkpoint argument, the others sorted (equivalent spellings agree);
    any other base unchanged."""
    m = _ZOO_BASE.match(base)
    if m is None:
        return base
    args = _top_level_args(m.group("args"))
    kept = sorted("=".join(x.strip() for x in a.partition("=")[::2]) for a in args
                  if a.partition("=")[0].strip() != CHECKPOINT_PARAM)
    return f"{m.group('name')}({','.join(kept)})" if kept else m.group("name")


def group_codes(labels: Sequence[Any] | np.ndarray | None, n: int) -> np.ndarray:
    """Integer codes 0..G−1 of group labels in order of first appearance; ``None``: each row alone.

    Raises:
        BadInputError: ``labels`` does not have ``n`` entries or has a missing label.
    """
    if labels is None:
        return np.arange(n)
    values = list(labels)
    if len(values) != n:
        raise BadInputError(f"groups has {len(values)} labels for {n} rows; give one group label per row.")
    missing = [i for i, v in enumerate(values) if v is None or (isinstance(v, float) and np.isnan(v))]
    if missing:
        raise BadInputError(
            f"{len(missing)} row(s) have no group label (positions {missing[:10]}); fill in their group."
        )
    first: dict[Any, int] = {}
    return np.array([first.setdefault(v, len(first)) for v in values], dtype=np.int64)


def family_of_groups(
    codes: np.ndarray, families: Sequence[Any] | np.ndarray | None, labels: Sequence[Any] | None = None
) -> np.ndarray:
    """Family code (first-appearance order) of each group 0..G−1 of ``codes``; all zeros without families.

    Raises:
        BadInputError: a group spans two families (a group must lie inside one family); it is named by
            its label from ``labels`` (one per row) when given.
    """
    G = int(codes.max()) + 1 if codes.size else 0
    if families is None:
        return np.zeros(G, dtype=np.int64)
    fam = group_codes(families, codes.size)
    out = np.full(G, -1, dtype=np.int64)
    for row, (g, f) in enumerate(zip(codes, fam)):
        if out[g] not in (-1, f):
            name = repr(list(labels)[row]) if labels is not None else str(int(g))
            raise BadInputError(
                f"group {name} has models in two families; a group of related models must lie inside one "
                "family: fix the group or family labels."
            )
        out[g] = f
    return out
