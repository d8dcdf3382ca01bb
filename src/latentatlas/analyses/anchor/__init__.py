"""Anchor-vector analysis of language-model heads (Wu, Lee & Ge, NeurIPS 2023)."""

from .contexts import CONTEXT_BUILDERS, collect, collect_contexts
from .fit import (
    AnchorFit, anchor_table, bulk_log_partition, cosine, fit_anchor, heldout_scores, split_contexts, split_groups,
)
from .heads import HEAD_KINDS, LMWithHead, head_kind, load_lm
from .null import (
    NULL_HEADS, anchor_verdict, haar_orthogonal, head_targets, null_scores, prediction_entropy, resampled_head,
    rotated_head, with_nulls,
)
from .run import (
    DEFAULT_KS, AnchorResult, head_table, r2_figure, run_anchor, synthetic_tables, write_anchor,
)
from .synthetic import SyntheticLM, anchored_lm, anchorless_lm, random_lm

__all__ = [
    "CONTEXT_BUILDERS", "DEFAULT_KS", "HEAD_KINDS", "NULL_HEADS", "AnchorFit", "AnchorResult",
    "LMWithHead", "SyntheticLM", "anchor_table", "anchor_verdict", "anchored_lm", "anchorless_lm",
    "bulk_log_partition", "collect", "collect_contexts", "cosine", "fit_anchor", "haar_orthogonal", "head_kind",
    "head_table", "head_targets", "heldout_scores", "load_lm", "null_scores", "prediction_entropy", "r2_figure",
    "random_lm", "resampled_head", "rotated_head", "run_anchor", "split_contexts", "split_groups", "synthetic_tables",
    "with_nulls", "write_anchor",
]
