"""Plain-text rendering of an :func:`~latentatlas.stats.predict.analyse` result (``latentatlas predict``), and
the plain-words conclusion of a study's selection table (:func:`conclusion`, :func:`caveat`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _num(v: float | None, fmt: str = ".4g") -> str:
    return "—" if v is None else format(v, fmt)


def format_selection(result: dict[str, Any]) -> list[str]:
    """The lines that lead the report: what the search over predictors costs and what survives it."""
    sel = result.get("selection")
    if not sel:
        return []
    ncv = sel["nested_cv"]
    chosen = ", ".join(f"{k} ({v})" for k, v in list(ncv["chosen"].items())[:3])
    return [
        (f"honest estimate (nested {result['cv']} of 'pick the best of {sel['n_candidates']} predictor(s), fit "
         f"OLS, predict the left-out group', {ncv['n_groups']} groups):"),
        (f"  MSE {_num(ncv['mse'])} (predicting the training mean: {_num(ncv['baseline_mse'])}), "
         f"MAE {_num(ncv['mae'])}, rank correlation with the truth: Spearman {_num(ncv['spearman'], '.3f')}, "
         f"Kendall {_num(ncv['kendall'], '.3f')} (permutation p of the Spearman: {_num(ncv['p_spearman'], '.3g')})"),
        f"  folds picked: {chosen}",
        (f"best predictor {sel['best']}: r = {_num(sel['best_r'], '.3f')}, family-wise p = "
         f"{_num(sel['p_family_wise'], '.3g')} (max |r| of {sel['n_candidates']} against {sel['n_permutations']} "
         f"permutations of the target across groups)"),
        "",
    ]


def format_analysis(result: dict[str, Any]) -> str:
    """A readable report: the selection cost first, then one line per model (fit, correlation, q-value,
    leave-one-group-out error), then held-out predictions."""
    lines = format_selection(result)
    lines.append(
        f"target {result['target']}: {result['n_train']} training rows in {result['n_groups']} groups, "
        f"{result['n_holdout']} held out"
        + (f", factor {result['factor']}" if result["factor"] else "")
        + (f", {result['n_dropped']} row(s) with missing values dropped" if result.get("n_dropped") else "")
    )
    models = result["models"]
    width = max(len(k) for k in models)
    header = (f"{'model':<{width}}  {'pearson_r':>9} {'q_value':>8} {'spearman':>9} {'R²':>7} {'LOGO MSE':>10} "
              f"{'LOGO MAE':>10}")
    if result["n_holdout"]:
        header += f" {'hold MSE':>10}"
    lines += ["", header, "-" * len(header)]
    for key, m in models.items():
        row = (f"{key:<{width}}  {_num(m['pearson_r'], '.3f'):>9} {_num(m['q_value'], '.3g'):>8} "
               f"{_num(m['spearman_rho'], '.3f'):>9} {_num(m['r2'], '.3f'):>7} {_num(m['logo_mse']):>10} "
               f"{_num(m['logo_mae']):>10}")
        if result["n_holdout"]:
            row += f" {_num(m['holdout_mse']):>10}"
        lines.append(row)
    for key, m in models.items():
        if m.get("note"):
            lines.append(f"  note ({key}): {m['note']}")
    for note in result.get("notes", []):
        lines.append(f"  note: {note}")
    lines.append("")
    lines.append("coefficients (estimate ± se):")
    for key, m in models.items():
        terms = ", ".join(f"{t} {_num(c)} ± {_num(m['se'][t], '.2g')}" for t, c in m["coef"].items())
        lines.append(f"  {key}: {terms}")
    if result["n_holdout"]:
        lines += ["", "held-out predictions (predicted / actual):"]
        ids = [p["id"] for p in next(iter(models.values()))["predictions"]]
        id_w = max(len(i) for i in ids)
        keys = list(models)
        lines.append(f"  {'id':<{id_w}}  {'actual':>8}  " + "  ".join(f"{k:>{max(8, len(k))}}" for k in keys))
        for j, rid in enumerate(ids):
            actual = models[keys[0]]["predictions"][j]["actual"]
            preds = "  ".join(f"{_num(models[k]['predictions'][j]['predicted'], '.4f'):>{max(8, len(k))}}" for k in keys)
            lines.append(f"  {rid:<{id_w}}  {_num(actual, '.4f'):>8}  {preds}")
    return "\n".join(lines)


ALPHA = 0.05
"""Family-wise level below which the best correlation counts as surviving the search."""

FEW_GROUPS = 10
"""Below this many left-out groups the conclusion's caveat says its figures are rough (as in :mod:`.contest`)."""


def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _p(v: float) -> str:
    return f"{v:.2g}" if v >= 0.01 else f"{v:.1g}"


def conclusion(row: Mapping[str, Any], alpha: float = ALPHA) -> str:
    """What one row of the selection table (``StudyAnalysis.selection``) supports, in one plain sentence.

    Two questions decide it: does the largest |r| survive the search over every candidate (family-wise
    p ≤ ``alpha``), and does select-then-fit predict left-out groups better than the training mean
    (nested-CV MSE < mean-only MSE on the same folds)? Both no: "no measure beats chance after
    selection"; both yes: the measure predicts new models; one of the two: the sentence says which part
    holds and which does not. A row without a selection (``best`` empty) gives its ``note``.
    """
    target = row.get("target", "the score")
    if not row.get("best"):
        return f"No conclusion about {target}: {row.get('note') or 'no selection was possible'}."
    best, n_cand = row["best"], int(row.get("candidates") or 0)
    p_fw, r = float(row["p_family_wise"]), float(row["best_r"])
    survives = p_fw <= alpha
    mse, base = row.get("nested_mse"), row.get("mean_only_mse")
    has_cv = _finite(mse) and _finite(base)
    predicts = has_cv and mse < base
    search = f"the search over {n_cand} candidates (family-wise p = {_p(p_fw)})"
    cv = (f"nested-CV MSE {mse:.3g} vs {base:.3g} for the training mean" if has_cv
          else str(row.get("note") or "no nested cross-validation"))
    if not has_cv:
        head = (f"{best} has the strongest correlation with {target} (r = {r:.2f}) and it "
                + ("survives " if survives else "does not survive ") + search
                + f"; whether it predicts new models is not known ({cv})")
        return head + "."
    if survives and predicts:
        return (f"{best} predicts {target} of left-out models better than the training mean ({cv}), and its "
                f"correlation (r = {r:.2f}) survives {search}.")
    if not survives and not predicts:
        return (f"No measure beats chance after selection (family-wise p = {_p(p_fw)}): the strongest of "
                f"{n_cand} correlations with {target}, {best} (r = {r:.2f}), is within what the best of "
                f"unrelated candidates reaches, and picking the best measure inside each fold predicts "
                f"left-out models no better than the training mean ({cv}).")
    if survives:
        return (f"The correlation of {best} with {target} (r = {r:.2f}) survives {search}, but picking and "
                f"fitting the best measure does not predict left-out models better than the training mean "
                f"({cv}).")
    return (f"Picking and fitting the best measure predicts {target} of left-out models better than the "
            f"training mean ({cv}), but the strongest correlation, {best} (r = {r:.2f}), does not survive "
            f"{search}.")


def caveat(row: Mapping[str, Any], *, n_holdout: int = 0) -> str:
    """The caveat that goes with :func:`conclusion`: few groups, an unstable choice across folds, and
    the reach of the result (models like the training ones; ``n_holdout`` held-out models of other kinds
    are checked separately)."""
    parts = []
    groups = row.get("nested_n_groups")
    if _finite(groups) and groups < FEW_GROUPS:
        parts.append(f"only {int(groups)} groups of related models were left out in turn, so these figures are rough")
    chosen = str(row.get("chosen") or "")
    n_chosen = chosen.count("(") if chosen else 0
    if n_chosen > 1:
        parts.append(f"the folds picked {n_chosen} different measures, so which measure is best is itself uncertain")
    reach = "it holds for models like the training ones"
    if n_holdout:
        reach += f"; the {n_holdout} held-out model(s) below test how far it carries"
    parts.append(reach)
    return "Caveat: " + "; ".join(parts) + "."
