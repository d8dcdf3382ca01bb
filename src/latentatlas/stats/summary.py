"""Plain-text rendering of an :func:`~latentatlas.stats.predict.analyse` result (``latentatlas predict``)."""

from __future__ import annotations

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
