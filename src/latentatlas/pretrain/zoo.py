"""``zoo:OBJECTIVE`` model specs: miniature pre-trained models built on first use and cached.

A model spec base ``zoo:mlm`` or ``zoo:first_char(steps=200,seed=1)`` names the model that
:func:`latentatlas.pretrain.pretrain` trains with that objective and those settings (any field of
:class:`PretrainSettings` except ``objective``; the others keep their defaults). The first use trains it
into ``<cache>/zoo/<objective>-<digest>/`` (resumable, under a file lock, so two processes never train
the same model twice) and seals it with a ``SHA256SUMS`` of every file; later uses load the folder once
its checksums match (a damaged finished folder is logged, removed and trained again). It is then an
ordinary model folder: variants apply (``zoo:mlm@perturb(alpha=10)``) and, since it keeps its masked-LM
head, ``latentatlas anchor`` takes it. A read-only cache serves the models it holds intact; training a
missing one there is refused with a :class:`~latentatlas.errors.ReadOnlyCacheError`.

**Checkpoints of one run.** ``at=STEP`` names the model saved at that step of the run the other settings
define: ``zoo:mlm(steps=400,checkpoint_every=50,at=100)`` is the run of 400 steps as it was after 100.
Zoo runs save a snapshot at step 0 (the initialisation) and at every ``checkpoint_every`` steps, so
``at`` is 0, a multiple of ``checkpoint_every``, or ``steps`` (the finished model, as without ``at``).
Every checkpoint of a run shares its folder and its group (:func:`latentatlas.stats.groups.model_group`):
the trajectory from random to trained gives a natural range of quality.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..errors import BadInputError, CacheCorruptError, UnknownNameError
from ..io import (
    SUMS_FILE,
    content_key,
    default_cache,
    discard,
    entry_lock,
    read_only_error,
    seal,
    verify_seal,
    writable,
)
from ..settings import PretrainSettings
from .objectives import OBJECTIVES
from .trainer import load_summary, pretrain, snapshot_folder

log = logging.getLogger(__name__)

PREFIX = "zoo:"

_ZOO = re.compile(r"^zoo:(?P<objective>\w+)(?:\((?P<args>[^()]*)\))?$")
_TUNABLE = sorted(name for name in PretrainSettings.model_fields if name not in ("objective", "corpus"))
#: The spec argument naming a checkpoint of the run (not a pre-training setting).
AT = "at"


def is_zoo(base: str) -> bool:
    return base.startswith(PREFIX)


def _coerce(base: str, key: str, raw: str) -> int | float:
    default = getattr(PretrainSettings(), key)  # n_sentences defaults to None (all): an integer
    try:
        if isinstance(default, float):
            return float(raw)
        value = float(raw)
        if not value.is_integer():
            raise ValueError
        return int(value)
    except ValueError:
        example = 1000 if default is None else default
        raise BadInputError(f"model spec {base!r}: {key}={raw!r} must be a number like {example}.") from None


def zoo_settings(base: str) -> PretrainSettings:
    """The pre-training settings a ``zoo:`` base names; BadInputError / UnknownNameError when malformed."""
    return _parse(base)[0]


def zoo_checkpoint(base: str) -> int | None:
    """The step ``at=`` selects, or None for the finished model; checked against the run's settings."""
    return _parse(base)[1]


def _parse(base: str) -> tuple[PretrainSettings, int | None]:
    m = _ZOO.match(base.strip())
    if not m:
        raise BadInputError(
            f"model spec {base!r} is not of the form zoo:OBJECTIVE or zoo:OBJECTIVE(key=value,...), "
            "e.g. zoo:mlm(steps=200)."
        )
    objective = m.group("objective")
    OBJECTIVES[objective]  # an unknown objective: close names suggested
    given: dict[str, int | float] = {}
    at: int | None = None
    for part in filter(None, (p.strip() for p in (m.group("args") or "").split(","))):
        key, eq, raw = (x.strip() for x in part.partition("="))
        if not eq or not key:
            raise BadInputError(f"model spec {base!r}: argument {part!r} is not key=value.")
        if key == AT:
            at = int(_coerce(base, "steps", raw))
            continue
        if key not in _TUNABLE:
            raise UnknownNameError(f"setting of {base!r}", key, [*_TUNABLE, AT],
                                   hint="Settings: steps, seed, hidden_size, num_layers, ..., at (see latentatlas pretrain --help).")
        given[key] = _coerce(base, key, raw)
    s = PretrainSettings.checked(f"model spec {base!r} is invalid", {"objective": objective, **given})
    if at is not None:
        if not (at == s.steps or (0 <= at < s.steps and at % s.checkpoint_every == 0)):
            raise BadInputError(
                f"model spec {base!r}: at={at} is not a saved step of this run; use 0, a multiple of "
                f"checkpoint_every={s.checkpoint_every} below steps={s.steps}, or {s.steps}."
            )
        if at == s.steps:
            at = None
    return s, at


#: The pre-training settings that make a zoo model's architecture (the rest is how it was trained).
ARCHITECTURE = ("hidden_size", "num_layers", "num_heads", "intermediate_size")


def zoo_family(base: str) -> str:
    """The architecture family of a ``zoo:`` base: ``zoo``, with the architecture settings
    (:data:`ARCHITECTURE`) that differ from the defaults, e.g. ``zoo(hidden_size=64)``.

    Objective, steps, seed and checkpoint are how a model of the family was trained, not which family it
    is: every checkpoint and every objective of the default architecture is family ``zoo``, as every
    variant of MiniLM (random init included) is family ``minilm`` (Marbut et al.'s families are
    architectures).
    """
    s = zoo_settings(base)
    default = PretrainSettings()
    changed = [f"{k}={getattr(s, k)}" for k in ARCHITECTURE if getattr(s, k) != getattr(default, k)]
    return f"zoo({','.join(changed)})" if changed else "zoo"


def zoo_folder(base: str, cache_dir: str | Path | None = None) -> Path:
    """Where the model of ``base`` lives (built or not): ``<cache>/zoo/<objective>-<settings digest>``."""
    s = zoo_settings(base)
    digest = content_key(s.identity())
    return Path(cache_dir if cache_dir is not None else default_cache()) / "zoo" / f"{s.objective}-{digest}"


def ensure_zoo_model(base: str, cache_dir: str | Path | None = None) -> Path:
    """The folder of ``base``'s model (its checkpoint's folder with ``at=``), pre-training the run first
    when it is not there (or resuming it)."""
    folder = zoo_folder(base, cache_dir)
    state, why = _status(folder)
    if state != "ready":
        root = folder.parent.parent
        if not writable(folder.parent):
            what = f"holds the zoo model {base} damaged ({why})" if why else f"lacks the zoo model {base}"
            raise read_only_error(root, what)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with entry_lock(str(folder) + ".lock", root, f"lacks the zoo model {base}"):
            state, why = _status(folder)  # another process may have finished it while we waited
            if state == "damaged":
                log.warning("zoo model %s in %s is damaged (%s); training it again", base, folder, why)
                discard(folder)
            if state != "ready":
                s = zoo_settings(base)
                log.info("pre-training %s (%d steps) into %s", base, s.steps, folder)
                summary = pretrain(s, folder, snapshots=True)
                seal(folder)
                log.info("%s: %.0f tokens/s, held-out loss %.3f", base, summary["tokens_per_second"],
                         summary["final_heldout_loss"])
    at = zoo_checkpoint(base)
    if at is None:
        return folder
    snap = snapshot_folder(folder, at)
    if not (snap / "config.json").is_file():
        raise BadInputError(
            f"the run of {base!r} in {folder} has no checkpoint at step {at} (it was trained without snapshots); "
            "delete that folder to train it again with them."
        )
    return snap


def _status(folder: Path) -> tuple[str, str]:
    """``("ready", "")`` for a finished folder matching its checksums, ``("unfinished", "")`` for none or
    one to resume, ``("damaged", why)`` for a finished (or sealed) one that fails its checksums."""
    try:
        finished = bool(load_summary(folder).get("finished")) and (folder / "config.json").is_file()
    except (OSError, ValueError):
        finished = False
    if not finished and not (folder / SUMS_FILE).exists():
        return "unfinished", ""
    try:
        verify_seal(folder)
    except CacheCorruptError as exc:
        return "damaged", str(exc)
    return ("ready", "") if finished else ("damaged", "pretrain.json does not mark it finished")


__all__ = ["AT", "ARCHITECTURE", "PREFIX", "ensure_zoo_model", "is_zoo", "snapshot_folder", "zoo_checkpoint",
           "zoo_family", "zoo_folder", "zoo_settings"]
