"""Geometry -> performance statistics: correlations with bootstrap CIs, OLS with a factor, leave-one-group-out
and held-out prediction (Marbut's protocol), what selecting the best predictor costs (family-wise permutation
p, q-values, nested cross-validation), within-family correlations, and the table reader behind
``latentatlas predict``."""

from .correlate import TABLE_COLUMNS, correlation_table, correlations
from .cv import CV_NAME, LOGOResult, NestedCVResult, logo, logo_from_fit, nested_cv
from .groups import model_group
from .multiple import bh_qvalues, group_level_pvalues
from .predict import FACTOR_SUFFIX, JOINT, MODEL_KEYS, SELECTION_KEYS, analyse, expand_predictors, holdout_mask, select
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
from .selection import MaxRTest, max_abs_r_test, permuted_targets
from .tables import read_table
from .within import partial_correlation, within_family, within_family_bootstrap

__all__ = [
    "CV_NAME",
    "FACTOR_SUFFIX",
    "JOINT",
    "MODEL_KEYS",
    "SELECTION_KEYS",
    "TABLE_COLUMNS",
    "HoldoutResult",
    "LOGOResult",
    "LOOResult",
    "MaxRTest",
    "NestedCVResult",
    "OLSFit",
    "analyse",
    "bh_qvalues",
    "correlation_table",
    "correlations",
    "design_matrix",
    "expand_predictors",
    "fit_ols",
    "group_level_pvalues",
    "holdout_from_fit",
    "holdout_mask",
    "logo",
    "logo_from_fit",
    "loo",
    "loo_from_fit",
    "max_abs_r_test",
    "model_group",
    "nested_cv",
    "partial_correlation",
    "permuted_targets",
    "predict_holdout",
    "read_table",
    "select",
    "within_family",
    "within_family_bootstrap",
]
