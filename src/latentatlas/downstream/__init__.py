"""Downstream tasks: the task registry (GLUE and the offline BBC suite), metrics, probes, fine-tuning
and transferability baselines. Heavy submodules (fine-tuning, spaCy annotation) load on use."""

from .base import Split, TaskData, TaskInfo, TaskKind
from .metrics import (
    METRICS,
    evaluate,
    glue_average,
    majority_baseline,
    per_word_baseline,
    task_baselines,
)
from .tasks import TASKS, TaskDef, get_task, load_task, task_names

__all__ = [
    "METRICS",
    "TASKS",
    "Split",
    "TaskData",
    "TaskDef",
    "TaskInfo",
    "TaskKind",
    "evaluate",
    "get_task",
    "glue_average",
    "load_task",
    "majority_baseline",
    "per_word_baseline",
    "task_baselines",
    "task_names",
]
