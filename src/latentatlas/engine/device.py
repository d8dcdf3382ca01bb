"""Compute device selection: ``cpu`` (default) or ``cuda`` (mixed precision with autocast).

On ``cuda``, extraction runs its forward passes under ``torch.autocast`` (float16) and fine-tuning under
bfloat16 autocast; the numbers then differ from CPU ones, so ``cuda`` is part of the cache keys.
"""

from __future__ import annotations

from typing import Literal

from ..errors import BadInputError, UnknownNameError

Device = Literal["cpu", "cuda"]
DEVICES: tuple[str, ...] = ("cpu", "cuda")


def check_device(name: str) -> Device:
    """``name`` if this machine can run it, else a :class:`BadInputError` naming the fix."""
    if name not in DEVICES:
        raise UnknownNameError("device", name, DEVICES, "Devices: cpu (default), cuda.")
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a CPU-only build")
            raise BadInputError(
                f"--device cuda needs a CUDA GPU but none is available ({build}); "
                "run with --device cpu (the default) or on a machine with a GPU and a CUDA build of torch."
            )
    return name  # type: ignore[return-value]
