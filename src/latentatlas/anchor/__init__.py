"""Anchor-vector analysis of language-model heads (Wu, Lee & Ge, NeurIPS 2023)."""

from .contexts import CONTEXT_BUILDERS, collect, collect_contexts
from .fit import (
    AnchorFit, anchor_table, bulk_log_partition, cosine, fit_anchor, heldout_scores, split_contexts, split_groups,
)
from .heads import HEAD_KINDS, LMWithHead, head_kind, load_lm
from .run import DEFAULT_KS, AnchorResult, AnchorSettings, r2_figure, run_anchor, synthetic_rows, write_anchor
from .synthetic import SyntheticLM, anchored_lm, anchorless_lm

__all__ = [
    "CONTEXT_BUILDERS", "DEFAULT_KS", "HEAD_KINDS", "AnchorFit", "AnchorResult", "AnchorSettings", "LMWithHead",
    "SyntheticLM", "anchor_table", "anchored_lm", "anchorless_lm", "bulk_log_partition", "collect", "collect_contexts",
    "cosine", "fit_anchor", "head_kind", "heldout_scores", "load_lm", "r2_figure", "run_anchor", "split_contexts",
    "split_groups",
    "synthetic_rows", "write_anchor",
]
