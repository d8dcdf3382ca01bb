"""Which downstream tasks carry signal about the models: the learnability rule.

A task enters the study's average score only when the best model beats the task's majority baseline
clearly and the models differ by more than reruns of one model do; otherwise its score differences are
seed noise, and averaging them in dilutes the target the analysis predicts. :func:`task_learnability`
applies the rule to per-model, per-seed scores and says, per task, why it holds or fails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..settings import LearnabilityRule

LEARNABILITY_COLUMNS = [
    "task", "baseline", "n_models", "n_seeds", "best_spec", "best", "worst_spec", "worst", "margin",
    "seed_sd", "model_sd", "learnable", "reason",
]


def task_learnability(
    official: pd.DataFrame,
    baselines: Mapping[str, float],
    rule: LearnabilityRule | None = None,
) -> pd.DataFrame:
    """Does each task separate the models beyond seed noise and beat its majority baseline?

    From the per-model, per-seed scores of one task (``official``: spec, task, run_seed, value; one row
    per model and seed), with m_j the mean over seeds of model j and s_j its sample SD (ddof = 1):

    * pooled seed SD  σ = sqrt(mean_j s_j²) over the models with at least two seeds;
    * margin  Δ = max_j m_j − b, b the task's majority baseline (``baselines[task]``);
    * spread  S = SD of the model means m_j (ddof = 1).

    The task is learnable when Δ ≥ ``min_margin`` (5 points) and Δ ≥ ``n_seed_sd``·σ (the best model is
    3 seed SDs above chance) and S > ``spread_ratio``·σ (the models differ by 3 times more than reruns
    of one model do). With one seed per model σ is unknown and with one model S is: the criteria that
    need them are not checked, and ``reason`` says so. A task without a baseline is not learnable.

    Returns:
        One row per task (columns :data:`LEARNABILITY_COLUMNS`): the baseline, best and worst model with
        their means, Δ, σ, S, ``learnable`` and ``reason`` (every failed criterion, or the unchecked ones;
        "" when all hold).
    """
    rule = rule or LearnabilityRule()
    rows = []
    for task, df in official.groupby("task", sort=False):
        by_model = df.groupby("spec", sort=False)["value"]
        means, sds, counts = by_model.mean(), by_model.std(ddof=1), by_model.size()
        multi = sds[counts >= 2]
        seed_sd = float(np.sqrt((multi**2).mean())) if len(multi) else float("nan")
        model_sd = float(means.std(ddof=1)) if len(means) >= 2 else float("nan")
        base = baselines.get(str(task), float("nan"))
        best_spec, worst_spec = str(means.idxmax()), str(means.idxmin())
        margin = float(means.max() - base)
        failed: list[str] = []
        unchecked: list[str] = []
        if np.isnan(base):
            failed.append("no majority baseline")
        elif margin < rule.min_margin:
            failed.append(f"best model is {margin:+.3f} from the majority baseline {base:.3f} "
                          f"(needs +{rule.min_margin:g})")
        if np.isnan(seed_sd):
            unchecked.append("one seed per model: seed noise unknown")
        else:
            if not np.isnan(base) and margin < rule.n_seed_sd * seed_sd:
                failed.append(f"margin {margin:.3f} is below {rule.n_seed_sd:g} seed SDs ({seed_sd:.3f} each)")
            if np.isnan(model_sd):
                unchecked.append("one model: spread between models unknown")
            elif not model_sd > rule.spread_ratio * seed_sd:
                failed.append(f"models spread by SD {model_sd:.3f}, not above {rule.spread_ratio:g} × seed SD "
                              f"{seed_sd:.3f}: differences between models are seed noise")
        rows.append({
            "task": str(task), "baseline": base, "n_models": len(means), "n_seeds": int(counts.max()),
            "best_spec": best_spec, "best": float(means.max()), "worst_spec": worst_spec,
            "worst": float(means.min()), "margin": margin, "seed_sd": seed_sd, "model_sd": model_sd,
            "learnable": not failed, "reason": "; ".join(failed + [f"not checked: {u}" for u in unchecked]),
        })
    return pd.DataFrame(rows, columns=LEARNABILITY_COLUMNS)


def results_summary(folder: str | Path, rule: LearnabilityRule | None = None) -> pd.DataFrame:
    """:func:`task_learnability` of a study's output folder, with every baseline of each task.

    Reads ``scores.csv`` and ``baselines.csv``, and the score layer of each model from ``run.json``
    (``score_layers``); a folder written before that field existed must probe one layer per model (the
    default, ``probe_layers: last``). The rule is the study's (``run.json``) unless ``rule`` is given.
    Columns: :data:`LEARNABILITY_COLUMNS`, then ``baseline_<name>`` for each baseline in the table
    (``baseline_majority``, ``baseline_per_word_majority``).

    Raises:
        BadInputError: the folder lacks the tables of a study with tasks, or its score layer is ambiguous.
    """
    from ..errors import BadInputError

    root = Path(folder)
    missing = [f for f in ("scores.csv", "baselines.csv") if not (root / f).is_file()]
    if missing:
        raise BadInputError(
            f"{root} has no {' or '.join(missing)}; pass the output folder of a study run with tasks."
        )
    scores = pd.read_csv(root / "scores.csv")
    base = pd.read_csv(root / "baselines.csv")
    manifest = json.loads((root / "run.json").read_text()) if (root / "run.json").is_file() else {}
    layer_of = manifest.get("score_layers")
    if layer_of is None:
        layers = scores[scores["metric"] == "score"].groupby("spec")["layer"].nunique()
        if (layers > 1).any():
            raise BadInputError(
                f"{root}/run.json does not record the score layer and the models were probed at several "
                "layers; rerun the study to write it."
            )
        layer_of = scores[scores["metric"] == "score"].groupby("spec")["layer"].first().to_dict()
    if rule is None:
        stored = manifest.get("study", {}).get("downstream", {}).get("learnability")
        rule = LearnabilityRule(**stored) if stored else LearnabilityRule()
    official = scores[(scores["metric"] == "score") & (scores["layer"] == scores["spec"].map(layer_of))]
    rows = base[base["metric"] == "score"]
    kind = rows["baseline"] if "baseline" in rows.columns else pd.Series("majority", index=rows.index)
    majority = dict(zip(rows.loc[kind == "majority", "task"], rows.loc[kind == "majority", "value"]))
    out = task_learnability(official[["spec", "task", "run_seed", "value"]], majority, rule)
    for name in dict.fromkeys(kind):
        values = dict(zip(rows.loc[kind == name, "task"], rows.loc[kind == name, "value"]))
        out[f"baseline_{name}"] = out["task"].map(values)
    return out
