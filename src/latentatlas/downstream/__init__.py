"""Downstream tasks: the task registry (GLUE and the offline BBC suite), metrics, probes, fine-tuning
and transferability baselines. Submodules are imported on use, so importing this package is cheap."""

from .base import Split, TaskData, TaskInfo, TaskKind

__all__ = ["Split", "TaskData", "TaskInfo", "TaskKind"]
