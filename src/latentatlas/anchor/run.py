"""The anchor analysis end to end: models × k sweep → table, JSON and an HTML page with a figure.

For each model with an LM head, contexts come from the bundled BBC corpus (seeded sample; see
:mod:`.contexts` for the masked/causal choice), f(x) and log Z_bulk(x) are computed for every k, and the
anchor is fitted on a seeded training split of the *sentences* (all contexts of one sentence on one
side) with and without intercept (:func:`.fit.anchor_table`).
Two synthetic log-linear models (:mod:`.synthetic`) run through the same fit as a calibration: the
anchored one must give R² ≈ 1, the anchorless one R² ≈ 0.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BadInputError
from .contexts import collect_contexts
from .fit import DEFAULT_RIDGE, anchor_table, bulk_log_partition, cosine, fit_anchor, head_log_partition
from .heads import load_lm
from .synthetic import anchored_lm, anchorless_lm

log = logging.getLogger(__name__)

DEFAULT_KS = (0, 10, 100, 1000)


@dataclass(frozen=True)
class AnchorSettings:
    """Options of one anchor run (all seeded)."""

    models: tuple[str, ...]
    ks: tuple[int, ...] = DEFAULT_KS
    n_sentences: int = 3000
    seed: int = 0
    test_fraction: float = 0.3
    ridge: float = DEFAULT_RIDGE
    max_contexts: int = 20000
    synthetic: bool = True

    def check(self) -> None:
        if not self.models:
            raise BadInputError("no model given; pass --model FOLDER (a model with a language-model head).")
        if not self.ks or any(k < 0 for k in self.ks):
            raise BadInputError(f"--ks {self.ks} must be non-negative integers, e.g. 0,10,100,1000.")
        if self.n_sentences < 10:
            raise BadInputError(f"--n-sentences {self.n_sentences} is too small; use at least 10 (default 3000).")
        if not 0.0 < self.test_fraction < 1.0:
            raise BadInputError(f"test_fraction={self.test_fraction} must lie strictly between 0 and 1.")


@dataclass
class AnchorResult:
    settings: AnchorSettings
    table: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        rows = [{k: _json_safe(v) for k, v in r.items()} for r in self.table.to_dict(orient="records")]
        return {"settings": asdict(self.settings), "info": self.info, "rows": rows}


def synthetic_rows(ks: Sequence[int], *, seed: int, test_fraction: float, ridge: float) -> list[dict[str, Any]]:
    """The anchor table of the two synthetic calibration models, plus cos(v0_fit, v0_planted)."""
    rows: list[dict[str, Any]] = []
    for name, lm in (("synthetic: anchor", anchored_lm(seed=seed, leak=0.05)), ("synthetic: no anchor", anchorless_lm(seed=seed))):
        ks_ok = [k for k in ks if k < lm.weight.shape[0]]
        y = bulk_log_partition(lm.logits(), ks_ok)
        table = anchor_table(lm.features, y, ks_ok, test_fraction=test_fraction, seed=seed, ridge=ridge, out_embeddings=lm.weight)
        for r in table:
            r["model"], r["head"] = name, "synthetic"
            if lm.v0 is not None:
                fit = fit_anchor(lm.features, y[:, ks_ok.index(r["k"])], intercept=True, ridge=ridge)
                r["cos_v0_planted"] = cosine(fit.v0, lm.v0)
        rows.extend(table)
    return rows


def run_anchor(settings: AnchorSettings) -> AnchorResult:
    """Run the analysis for every model (and the synthetic calibration); nothing is written."""
    from ..corpus import bundled_corpus

    settings.check()
    lms = [load_lm(m) for m in settings.models]  # fail on a headless model before any heavy work
    corpus = bundled_corpus(settings.n_sentences, seed=settings.seed)
    rows: list[dict[str, Any]] = []
    info: dict[str, Any] = {"corpus": corpus.source, "n_sentences": len(corpus), "models": {}}
    for lm in lms:
        vocab, d = lm.weight.shape
        ks = [k for k in settings.ks if k < vocab]
        if len(ks) < len(settings.ks):
            log.warning("%s: k values >= vocabulary size %d skipped", lm.name, vocab)
        F, sentence = collect_contexts(lm, corpus.sentences, seed=settings.seed, max_contexts=settings.max_contexts)
        Y = head_log_partition(F, lm.weight.double().numpy(), lm.bias.double().numpy(), ks)
        log.info("%s: %d contexts from %d sentences, d=%d, vocabulary %d", lm.name, F.shape[0],
                 np.unique(sentence).size, d, vocab)
        table = anchor_table(F, Y, ks, test_fraction=settings.test_fraction, seed=settings.seed,
                             ridge=settings.ridge, out_embeddings=lm.weight.double().numpy(), groups=sentence)
        for r in table:
            r["model"], r["head"] = lm.name, lm.kind
        rows.extend(table)
        info["models"][lm.name] = {"head": lm.kind, "vocab": int(vocab), "d": int(d), "n_contexts": int(F.shape[0])}
    if settings.synthetic:
        rows.extend(synthetic_rows(settings.ks, seed=settings.seed, test_fraction=settings.test_fraction, ridge=settings.ridge))
    cols = ["model", "head", "k", "intercept", "n_train", "n_test", "mse", "mse_const", "r2", "cos_v0_mean_f",
            "v0_norm", "v0_norm_rel", "y_mean", "y_std", "cos_v0_planted"]
    table = pd.DataFrame(rows).reindex(columns=cols)
    return AnchorResult(settings, table, info)


def r2_figure(table: pd.DataFrame) -> bytes:
    """Held-out R² against k (symlog axis) per model; solid with intercept, dashed without. PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for i, model in enumerate(dict.fromkeys(table["model"])):
        for with_c, style in ((True, "-"), (False, "--")):
            sub = table[(table["model"] == model) & (table["intercept"] == with_c)].sort_values("k")
            ax.plot(sub["k"], sub["r2"], style, marker="o", color=f"C{i}", label=f"{model}" if with_c else None)
    ax.set_xscale("symlog", linthresh=1)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xlabel("k (top-k words left out of the bulk)")
    ax.set_ylabel("held-out R² vs constant log Z")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title("anchor vector: solid = with intercept, dashed = through the origin", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def render_section(result: AnchorResult, png: bytes) -> str:
    """The analysis as an HTML fragment (a ``<section>``) for a study report or the standalone ``anchor.html``."""
    s, info = result.settings, result.info
    table = result.table.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, na_rep="",
                                 classes="results")
    return (
        "<section id='anchor'><h2>Anchor vector (Wu, Lee &amp; Ge 2023)</h2>"
        "<p>For each context x, f(x) is the exact input of the output layer (logits = W f + b) and "
        "log Z<sub>bulk</sub>(x) = log Σ<sub>w∉top-k</sub> exp(logit<sub>w</sub>). A ridge fit "
        "log Z<sub>bulk</sub> ≈ v0·f (+ c) on training contexts is scored on held-out contexts: "
        "R² = 1 − MSE / MSE of the constant partition function (training mean). "
        f"Contexts: {info.get('n_sentences')} sentences of the {html.escape(str(info.get('corpus')))} corpus "
        "(masked LMs: one seeded masked token per sentence; causal LMs: every position), split by sentence, seed "
        f"{s.seed}, held-out fraction {s.test_fraction}, ridge {s.ridge:g}·tr(FᵀF)/d. The synthetic rows are the "
        "calibration: a planted anchor (R² ≈ 1, cos_v0_planted ≈ 1) and a model without one (R² ≈ 0).</p>"
        f"<figure><img alt='held-out R2 against k per model' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        "<figcaption>Held-out R² of the anchor fit against k.</figcaption></figure>"
        f"{table}</section>"
    )


def _page(section: str) -> str:
    """``anchor.html``: a standalone page holding the :func:`render_section` fragment."""
    from ..report.sections import standalone_page

    return standalone_page("latentatlas anchor vector", section,
                           "table{border-collapse:collapse} td,th{padding:2px 8px;text-align:right}")


def write_anchor(
    result: AnchorResult, out_dir: str | Path, *, report_dir: str | Path | None = None
) -> dict[str, Path]:
    """Write ``anchor.csv``, ``anchor.json``, ``anchor_r2.png`` and ``anchor.html`` (all rendered first);
    with ``report_dir`` (a study output folder) also add the section to its report."""
    from ..io import atomic_write, atomic_write_json, atomic_write_text
    from ..report.sections import attach_section, report_page

    if report_dir is not None:
        report_page(report_dir)
    png = r2_figure(result.table)
    section = render_section(result, png)
    page = _page(section)
    csv = result.table.to_csv(index=False)
    payload = result.to_json()
    out = Path(out_dir)
    files = {
        "anchor.csv": atomic_write_text(out / "anchor.csv", csv),
        "anchor.json": atomic_write_json(out / "anchor.json", payload),
        "anchor_r2.png": atomic_write(out / "anchor_r2.png", lambda p: p.write_bytes(png)),
        "anchor.html": atomic_write_text(out / "anchor.html", page),
    }
    if report_dir is not None:
        files.update(attach_section(report_dir, "anchor", section))
    return files


def _json_safe(value: Any) -> Any:
    """NaN (e.g. cos_v0_planted of a real model) becomes null so the JSON stays standard."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and np.isnan(value) else value
