"""Geometry -> performance statistics: correlations with bootstrap CIs, OLS with a factor, leave-one-out
and held-out prediction (Marbut's protocol), and the table reader behind ``latentatlas predict``."""

from .correlate import TABLE_COLUMNS, correlation_table, correlations
from .predict import FACTOR_SUFFIX, JOINT, MODEL_KEYS, analyse, holdout_mask
from .regress import (
    HoldoutResult,
    LOOResult,
    OLSFit,
    design_matrix,
    fit_ols,
    holdout_from_fit,
    loo,
    loo_from_fit,
    predict_holdout,
)
from .tables import read_table

__all__ = [
    "FACTOR_SUFFIX",
    "JOINT",
    "MODEL_KEYS",
    "TABLE_COLUMNS",
    "HoldoutResult",
    "LOOResult",
    "OLSFit",
    "analyse",
    "correlation_table",
    "correlations",
    "design_matrix",
    "fit_ols",
    "holdout_from_fit",
    "holdout_mask",
    "loo",
    "loo_from_fit",
    "predict_holdout",
    "read_table",
]
