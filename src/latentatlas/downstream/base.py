"""The data contract of downstream tasks: what a task is, what its splits hold.

Every loader (GLUE files, Hugging Face ``datasets``, the offline BBC suite) returns a :class:`TaskData`;
fine-tuning, probing, transferability and the metrics only ever see these types.

* sentence-level tasks (``classification`` / ``regression``): one example = ``text_a`` (and ``text_b``
  for pair tasks) with one label in ``labels`` (int64 class ids, or float32 scores for regression);
* ``tagging`` tasks: one example = one sentence given as ``words`` with one int tag id per word in
  ``tags``; ``text_a`` holds the words joined by spaces, ``labels`` is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

TaskKind = Literal["classification", "regression", "tagging"]


@dataclass(frozen=True)
class TaskInfo:
    """A registered task's description.

    Attributes:
        name: registry name (``cola``, ``bbc_topic``, ...).
        kind: ``classification``, ``regression`` or ``tagging``.
        metric: name of the official metric (``mcc``, ``acc_f1``, ``pearson_spearman``, ``accuracy``,
            ``token_accuracy``, ``span_f1``); :func:`latentatlas.downstream.metrics.evaluate` reports it
            as ``score``.
        labels: class or tag names, in id order (empty for regression).
        pair: whether examples are sentence pairs.
        suite: ``glue`` or ``offline``.
        description: one line for reports and ``latentatlas tasks``.
    """

    name: str
    kind: TaskKind
    metric: str
    labels: tuple[str, ...]
    pair: bool
    suite: str
    description: str

    @property
    def num_labels(self) -> int:
        """Output size of a head: classes (or tags), 1 for regression."""
        return 1 if self.kind == "regression" else len(self.labels)


@dataclass(frozen=True)
class Split:
    """One split of a task, examples in a fixed order."""

    text_a: tuple[str, ...]
    text_b: tuple[str, ...] | None = None
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    words: tuple[tuple[str, ...], ...] | None = None
    tags: tuple[np.ndarray, ...] | None = None
    groups: np.ndarray | None = None  # source document of each example (leak-free splits), if known

    def __len__(self) -> int:
        return len(self.text_a)


@dataclass(frozen=True)
class TaskData:
    """A task with its train and validation splits."""

    info: TaskInfo
    train: Split
    validation: Split
