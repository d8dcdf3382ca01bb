"""Plain-text rendering of an :func:`~latentatlas.analysis.predict.analyse` result (``latentatlas predict``)."""

from __future__ import annotations

from typing import Any


def _num(v: float | None, fmt: str = ".4g") -> str:
    return "—" if v is None else format(v, fmt)


def format_analysis(result: dict[str, Any]) -> str:
    """A readable report: one line per model (fit, correlation, LOO error), then held-out predictions."""
    lines = [
        f"target {result['target']}: {result['n_train']} training rows, {result['n_holdout']} held out"
        + (f", factor {result['factor']}" if result["factor"] else "")
    ]
    models = result["models"]
    width = max(len(k) for k in models)
    header = f"{'model':<{width}}  {'pearson_r':>9} {'spearman':>9} {'R²':>7} {'LOO MSE':>10} {'LOO MAE':>10}"
    if result["n_holdout"]:
        header += f" {'hold MSE':>10}"
    lines += ["", header, "-" * len(header)]
    for key, m in models.items():
        row = (f"{key:<{width}}  {_num(m['pearson_r'], '.3f'):>9} {_num(m['spearman_rho'], '.3f'):>9} "
               f"{_num(m['r2'], '.3f'):>7} {_num(m['loo_mse']):>10} {_num(m['loo_mae']):>10}")
        if result["n_holdout"]:
            row += f" {_num(m['holdout_mse']):>10}"
        lines.append(row)
    for key, m in models.items():
        if m.get("note"):
            lines.append(f"  note ({key}): {m['note']}")
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
