"""Compare two representation spaces over the same tokens: layer × layer similarity matrices.

Either two model specs, extracted on the same sentences (their token ids must be identical, otherwise
rows would not correspond), or two .npy clouds with the same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BadInputError
from ...io import atomic_write, atomic_write_json, atomic_write_text, load_npy
from ...measures.registry import SIMILARITY
from ...measures.similarity import compare_layers
from ...models import ModelSpec, check_spec_folders, load_model
from ...pipeline.corpus import study_corpus
from ...report.figures import heatmap
from ...settings import CompareSettings, ExtractionSettings
from ...store import open_store, tokenize

log = logging.getLogger(__name__)


@dataclass
class Comparison:
    """Layer × layer matrices per measure; rows are A's layers, columns B's."""

    name_a: str
    name_b: str
    layers_a: list[int]
    layers_b: list[int]
    n_points: int
    matrices: dict[str, np.ndarray] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.name_a,
            "b": self.name_b,
            "layers_a": self.layers_a,
            "layers_b": self.layers_b,
            "n_points": self.n_points,
            "matrices": {k: v.tolist() for k, v in self.matrices.items()},
        }


def _rows(n: int, max_points: int | None, seed: int) -> np.ndarray:
    if max_points is None or n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def compare(a: str, b: str, settings: CompareSettings | None = None, *, progress: bool = True) -> Comparison:
    """Compare ``a`` and ``b``: two .npy paths, or two model specs extracted on ``settings.corpus``."""
    s = settings or CompareSettings()
    for m in s.measures:
        SIMILARITY[m]  # unknown names fail first, with close names
    if a.endswith(".npy") and b.endswith(".npy"):
        Xa, Xb = np.asarray(load_npy(a)), np.asarray(load_npy(b))
        if Xa.ndim != 2 or Xb.ndim != 2 or Xa.shape[0] != Xb.shape[0]:
            raise BadInputError(
                f"the two clouds must be 2-D with the same rows, got shapes {Xa.shape} and {Xb.shape}."
            )
        rows = _rows(Xa.shape[0], s.max_points, s.seed)
        mats = compare_layers([Xa[rows]], [Xb[rows]], s.measures)
        return Comparison(a, b, [0], [0], rows.size, mats)
    if a.endswith(".npy") or b.endswith(".npy"):
        raise BadInputError("compare takes two .npy clouds or two model specs, not one of each.")

    spec_a, spec_b = ModelSpec.parse(a), ModelSpec.parse(b)
    check_spec_folders(spec_a)
    check_spec_folders(spec_b)
    sentences = study_corpus(s.corpus).sentences
    lm_a, lm_b = (load_model(spec, cache_dir=Path(s.cache)) for spec in (spec_a, spec_b))
    # the rows must be the same tokens: checked on the tokenizers, before extraction writes any store
    ids_a, ids_b = (_stored_token_ids(lm.tokenizer, sentences, s.extraction) for lm in (lm_a, lm_b))
    if ids_a.shape == ids_b.shape and np.array_equal(ids_a, ids_b):
        store_a, store_b = (open_store(lm, sentences, cache=s.cache, layers=s.layers, settings=s.extraction,
                                       progress=progress)[0] for lm in (lm_a, lm_b))
        ids_a = store_a.tokens["token_id"].to_numpy()
        ids_b = store_b.tokens["token_id"].to_numpy()
    if ids_a.shape != ids_b.shape or not np.array_equal(ids_a, ids_b):
        raise BadInputError(
            f"{a} and {b} tokenise the sentences differently ({ids_a.size} vs {ids_b.size} tokens), so "
            "their rows are not the same tokens; compare models that share a tokenizer."
        )
    rows = _rows(store_a.n_tokens, s.max_points, s.seed)
    clouds_a = [np.asarray(store_a.layer(layer)[rows], dtype=np.float32) for layer in store_a.layers]
    clouds_b = [np.asarray(store_b.layer(layer)[rows], dtype=np.float32) for layer in store_b.layers]
    return Comparison(str(spec_a), str(spec_b), store_a.layers, store_b.layers, rows.size,
                      compare_layers(clouds_a, clouds_b, s.measures))


def _stored_token_ids(tokenizer: Any, sentences: Sequence[str], options: ExtractionSettings) -> np.ndarray:
    """The token ids an activation store of these sentences holds, in row order (no forward pass)."""
    tok = tokenize(tokenizer, sentences, options.max_length)
    kept = tok.kept(options.keep_special_tokens)
    return np.concatenate([np.asarray(ids, dtype=np.int64)[k] for ids, k in zip(tok.input_ids, kept, strict=True)])


def write_comparison(result: Comparison, out_dir: Path) -> dict[str, Path]:
    """Write ``compare.json``, one CSV per measure and ``compare.html`` with a heatmap per measure."""
    import base64

    import pandas as pd

    files: dict[str, Path] = {}
    for name, M in result.matrices.items():
        df = pd.DataFrame(M, index=[f"A{l}" for l in result.layers_a], columns=[f"B{l}" for l in result.layers_b])
        files[f"{name}.csv"] = atomic_write(out_dir / f"compare_{name}.csv", lambda p, df=df: df.to_csv(p))
    files["compare.json"] = atomic_write_json(out_dir / "compare.json", result.to_json())
    figs = []
    for name, M in result.matrices.items():
        png = heatmap(M, result.layers_a, result.layers_b, title=name, xlabel=f"B: {result.name_b}", ylabel=f"A: {result.name_a}")
        figs.append(
            f'<figure class="heatmap" data-measure="{name}"><img alt="{name} layer by layer" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode()}"><figcaption>{name}</figcaption></figure>'
        )
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>latentatlas comparison</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em} figure{display:inline-block;margin:1em}</style>"
        f"</head><body><h1>Layer × layer similarity</h1><p>A = {_esc(result.name_a)}, B = {_esc(result.name_b)}, "
        f"{result.n_points} shared tokens.</p>{''.join(figs)}</body></html>"
    )
    files["compare.html"] = atomic_write_text(out_dir / "compare.html", page)
    log.info("comparison written to %s", out_dir)
    return files


def _esc(text: str) -> str:
    import html

    return html.escape(text)


__all__ = ["Comparison", "compare", "write_comparison"]
