"""The downstream task registry: every task's description and loader, under one name.

``TASKS`` holds the nine GLUE tasks (suite ``glue``, data supplied by the user, see
:mod:`latentatlas.downstream.glue`) and the four BBC News tasks (suite ``offline``, built from bundled
text, see :mod:`latentatlas.downstream.offline`). :func:`load_task` returns a
:class:`~latentatlas.downstream.base.TaskData` whatever the source.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import BadInputError, UnknownNameError
from ..registry import Registry
from .base import Split, TaskData, TaskInfo
from .glue import GLUE_SPECS, load_glue
from .offline import DEFAULT_MAX_EVAL, DEFAULT_MAX_TRAIN, OFFLINE_TASKS, load_offline

log = logging.getLogger(__name__)

#: ``loader(name, data_dir=..., seed=..., max_train=..., max_eval=..., cache_dir=...)``
Loader = Callable[..., TaskData]


@dataclass(frozen=True)
class TaskDef:
    """A registered task: its description, its loader and its default sizes (``None``: everything)."""

    info: TaskInfo
    loader: Loader
    default_max_train: int | None = None
    default_max_eval: int | None = None


def subsample(split: Split, n: int | None, seed: int) -> Split:
    """At most ``n`` examples of ``split``, chosen with ``seed`` and kept in their original order."""
    if n is None or n >= len(split):
        return split
    if n < 1:
        raise BadInputError(f"asked for {n} examples; pass max_train / max_eval of at least 1 (or None).")
    idx = np.sort(np.random.default_rng(seed).choice(len(split), n, replace=False))

    def pick(values: tuple | None) -> tuple | None:
        return None if values is None else tuple(values[i] for i in idx)

    return Split(
        text_a=tuple(split.text_a[i] for i in idx),
        text_b=pick(split.text_b),
        labels=split.labels[idx] if len(split.labels) else split.labels,
        words=pick(split.words),
        tags=pick(split.tags),
        groups=None if split.groups is None else split.groups[idx],
    )


def _load_glue_task(
    name: str,
    *,
    data_dir: str | Path | None,
    seed: int,
    max_train: int | None,
    max_eval: int | None,
    cache_dir: str | Path | None,
) -> TaskData:
    del cache_dir  # GLUE files are read directly
    task = load_glue(name, data_dir=data_dir)
    return replace(
        task,
        train=subsample(task.train, max_train, seed),
        validation=subsample(task.validation, max_eval, seed + 1),
    )


def _load_offline_task(
    name: str,
    *,
    data_dir: str | Path | None,
    seed: int,
    max_train: int | None,
    max_eval: int | None,
    cache_dir: str | Path | None,
) -> TaskData:
    if data_dir is not None:
        log.info("task %s is built from bundled text; data_dir %s is not used", name, data_dir)
    assert max_train is not None and max_eval is not None  # load_task fills the offline defaults
    return load_offline(name, seed=seed, max_train=max_train, max_eval=max_eval, cache_dir=cache_dir)


#: task name -> definition: GLUE in benchmark order, then the offline BBC suite.
TASKS: Registry[TaskDef] = Registry.of("task", {
    **{name: TaskDef(spec.info, _load_glue_task) for name, spec in GLUE_SPECS.items()},
    **{
        name: TaskDef(info, _load_offline_task, DEFAULT_MAX_TRAIN, DEFAULT_MAX_EVAL)
        for name, (info, _) in OFFLINE_TASKS.items()
    },
}, hint="Run `latentatlas tasks` to list them.")


def task_names(suite: str | None = None) -> list[str]:
    """Registered task names in registry order, optionally only one suite's (``glue``, ``offline``)."""
    suites = sorted({d.info.suite for d in TASKS.values()})
    if suite is not None and suite not in suites:
        raise UnknownNameError("task suite", suite, suites)
    return [name for name, d in TASKS.items() if suite is None or d.info.suite == suite]


def get_task(name: str) -> TaskDef:
    """The registered definition of ``name``; an UnknownNameError suggests close names."""
    return TASKS[name]


def load_task(
    name: str,
    *,
    data_dir: str | Path | None = None,
    seed: int = 0,
    max_train: int | None = None,
    max_eval: int | None = None,
    cache_dir: str | Path | None = None,
) -> TaskData:
    """Load a task's train and validation splits.

    Args:
        name: a registered task (:func:`task_names`).
        data_dir: where GLUE data lives (see :func:`latentatlas.downstream.glue.load_glue`); unused by
            the offline suite.
        seed: drives every random choice (sampling, pairing, shuffling).
        max_train, max_eval: at most this many examples (seeded sample, original order kept);
            ``None`` = the task's default (offline: 2,000 and 500; GLUE: all).
        cache_dir: cache folder (spaCy annotations of ``bbc_pos``).
    """
    definition = get_task(name)
    max_train = definition.default_max_train if max_train is None else max_train
    max_eval = definition.default_max_eval if max_eval is None else max_eval
    for what, n in (("max_train", max_train), ("max_eval", max_eval)):
        if n is not None and n < 1:
            raise BadInputError(f"{what}={n} for task {name!r}; pass at least 1 (or leave it unset).")
    return definition.loader(
        name, data_dir=data_dir, seed=seed, max_train=max_train, max_eval=max_eval, cache_dir=cache_dir
    )
