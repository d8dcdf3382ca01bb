"""``zoo:OBJECTIVE`` model specs: miniature pre-trained models built on first use and cached.

A model spec base ``zoo:mlm`` or ``zoo:first_char(steps=200,seed=1)`` names the model that
:func:`latentatlas.pretrain.pretrain` trains with that objective and those settings (any field of
:class:`PretrainSettings` except ``objective``; the others keep their defaults). The first use trains it
into ``<cache>/zoo/<objective>-<digest>/`` (resumable, under a file lock, so two processes never train
the same model twice); later uses load the folder. It is then an ordinary model folder: variants apply
(``zoo:mlm@perturb(alpha=10)``) and, since it keeps its masked-LM head, ``latentatlas anchor`` takes it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..errors import BadInputError, UnknownNameError
from ..io import DEFAULT_CACHE, content_key, default_cache
from ..settings import PretrainSettings
from .objectives import OBJECTIVES
from .trainer import load_summary, pretrain

log = logging.getLogger(__name__)

PREFIX = "zoo:"
DEFAULT_ROOT = Path(DEFAULT_CACHE)  # kept for callers; the folder used is default_cache()
_ZOO = re.compile(r"^zoo:(?P<objective>\w+)(?:\((?P<args>[^()]*)\))?$")
_TUNABLE = sorted(name for name in PretrainSettings.model_fields if name != "objective")


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
    m = _ZOO.match(base.strip())
    if not m:
        raise BadInputError(
            f"model spec {base!r} is not of the form zoo:OBJECTIVE or zoo:OBJECTIVE(key=value,...), "
            "e.g. zoo:mlm(steps=200)."
        )
    objective = m.group("objective")
    OBJECTIVES[objective]  # an unknown objective: close names suggested
    given: dict[str, int | float] = {}
    for part in filter(None, (p.strip() for p in (m.group("args") or "").split(","))):
        key, eq, raw = (x.strip() for x in part.partition("="))
        if not eq or not key:
            raise BadInputError(f"model spec {base!r}: argument {part!r} is not key=value.")
        if key not in _TUNABLE:
            raise UnknownNameError(f"setting of {base!r}", key, _TUNABLE,
                                   hint="Settings: steps, seed, hidden_size, num_layers, ... (see latentatlas pretrain --help).")
        given[key] = _coerce(base, key, raw)
    return PretrainSettings.checked(f"model spec {base!r} is invalid", {"objective": objective, **given})


def zoo_folder(base: str, cache_dir: str | Path | None = None) -> Path:
    """Where the model of ``base`` lives (built or not): ``<cache>/zoo/<objective>-<settings digest>``."""
    s = zoo_settings(base)
    digest = content_key(s.model_dump())
    return Path(cache_dir if cache_dir is not None else default_cache()) / "zoo" / f"{s.objective}-{digest}"


def ensure_zoo_model(base: str, cache_dir: str | Path | None = None) -> Path:
    """The folder of ``base``'s model, pre-training it first when it is not there (or resuming it)."""
    from filelock import FileLock

    folder = zoo_folder(base, cache_dir)
    if _finished(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not _finished(folder):  # another process may have finished it while we waited
            s = zoo_settings(base)
            log.info("pre-training %s (%d steps) into %s", base, s.steps, folder)
            summary = pretrain(s, folder)
            log.info("%s: %.0f tokens/s, held-out loss %.3f", base, summary["tokens_per_second"],
                     summary["final_heldout_loss"])
    return folder


def _finished(folder: Path) -> bool:
    try:
        return bool(load_summary(folder).get("finished")) and (folder / "config.json").is_file()
    except (OSError, ValueError):
        return False


__all__ = ["PREFIX", "ensure_zoo_model", "is_zoo", "zoo_folder", "zoo_settings"]
