"""Token-tagging experiment: does adding local topology features to frozen LM vectors help a tagger?

After Ruppik et al. (2024, SIGDIAL, arXiv:2408.03706), who fuse per-token local topology features with
frozen language-model vectors in a BIO tagger. Here the task is named-entity BIO tagging of the bundled
BBC News sentences, the labels being spaCy's English model's entities (``latentatlas.annotate``,
OntoNotes types), so everything runs offline.

Pipeline:

1. sentences from :func:`latentatlas.corpus.bundled_corpus` (seeded) or a user corpus (``corpus``; each
   line, or each paragraph with ``split_sentences``, counts as an article), extracted into the activation
   store (one layer of one model, special tokens kept: every token is in the k-NN datastore);
2. word-level labels from spaCy (``ent_bio``); each word is represented by the store row of its first
   subword token (fast-tokenizer offsets aligned with :func:`latentatlas.annotate.align_to_tokens`);
   words with no token (cut by truncation) are left out of both gold and predicted sequences;
3. for each seed: split sentences by ARTICLE (seeded; no article on both sides);
4. local topology features of every store row with the training articles' tokens as the datastore
   (:func:`latentatlas.measures.topology.store_topology_features`, cached per split): as in Ruppik et al.,
   the datastore is the training data, so a validation token's neighbourhood holds training tokens only
   and no validation token is anyone's neighbour; the persistence-image ranges are fitted on training
   tokens only. The features use no labels;
5. standardise features
   with the training rows' mean and standard deviation (undefined feature values become the training
   mean), fit a multinomial logistic regression (:func:`softmax_regression`, sklearn's objective, L-BFGS
   in torch) on the LM vector alone and on the LM vector
   concatenated with the topology block, and score both with CoNLL span-level micro F1 on the
   validation sentences;
6. a table (per seed and mean ± std), JSON and an HTML page with a figure, written atomically at the end.
"""

from __future__ import annotations

import base64
import html
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import BadInputError
from ...report.figures import png
from ...settings import TaggingSettings

log = logging.getLogger(__name__)

CONDITIONS: tuple[str, ...] = ("lm", "lm+topology")
VALIDATION_FRACTION = 0.2


@dataclass
class WordData:
    """Word-level view of the corpus: one row per word that has a token."""

    rows: np.ndarray  # store row of each word's first subword token
    labels: list[str]  # gold BIO tag per word
    sentence: np.ndarray  # sentence index per word
    doc_ids: np.ndarray  # article id per sentence


@dataclass
class TaggingResult:
    """Per-seed scores, their summary, and everything needed to reproduce them."""

    settings: TaggingSettings
    scores: pd.DataFrame  # condition, seed, precision, recall, f1, n_train_words, n_val_words, ...
    summary: pd.DataFrame  # condition, f1_mean, f1_std, precision_mean, recall_mean, n_seeds, paired columns
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def paired(self) -> dict[str, float]:
        """The paired comparison lm+topology − lm over seeds (:func:`paired_difference`)."""
        return paired_difference(self.scores)

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": self.settings.model_dump(mode="json"),
            "summary": _records(self.summary),
            "paired_test": {k: _finite_or_none(v) for k, v in self.paired.items()},
            "scores": self.scores.to_dict(orient="records"),
            **self.info,
        }


# -- data ------------------------------------------------------------------------------------------


def word_rows(
    tokens: pd.DataFrame, offsets: Sequence[Sequence[tuple[int, int]]], annotations: Sequence[Any]
) -> WordData:
    """Map each spaCy word to the store row of its first subword token.

    ``tokens`` is the store's token index (``sentence_id``, ``position`` per row), ``offsets[s]`` the
    fast tokenizer's offset mapping of sentence ``s`` (same truncation as the store) and
    ``annotations[s]`` its :class:`~latentatlas.annotate.Annotation`.
    """
    from ...annotate import align_to_tokens

    sid = tokens["sentence_id"].to_numpy()
    pos = tokens["position"].to_numpy()
    starts = np.searchsorted(sid, np.arange(len(annotations)))
    ends = np.searchsorted(sid, np.arange(len(annotations)), side="right")
    rows: list[int] = []
    labels: list[str] = []
    sentence: list[int] = []
    for s, ann in enumerate(annotations):
        word_of = align_to_tokens(ann, offsets[s])
        first: dict[int, int] = {}
        for r in range(starts[s], ends[s]):
            w = word_of[pos[r]] if pos[r] < len(word_of) else -1
            if w >= 0 and w not in first:
                first[w] = r
        for w in sorted(first):
            rows.append(first[w])
            labels.append(ann.ent_bio[w])
            sentence.append(s)
    return WordData(np.asarray(rows, dtype=np.int64), labels, np.asarray(sentence, dtype=np.int64), np.zeros(0))


def article_split(doc_ids: np.ndarray, seed: int, fraction: float = VALIDATION_FRACTION) -> np.ndarray:
    """Boolean mask over sentences: True for validation. Whole articles (seeded) go to validation until
    it holds about ``fraction`` of the sentences; no article is on both sides."""
    docs = np.unique(doc_ids)
    if docs.size < 2:
        raise BadInputError(
            f"the sentences come from {docs.size} article(s); a split by article needs at least 2, "
            "use more sentences (--n-sentences)."
        )
    order = np.random.default_rng(seed).permutation(docs)
    sizes = pd.Series(doc_ids).value_counts().reindex(order).to_numpy()
    n_val = int(np.searchsorted(np.cumsum(sizes), fraction * doc_ids.size)) + 1
    n_val = min(max(n_val, 1), docs.size - 1)
    return np.isin(doc_ids, order[:n_val])


def datastore_rows(token_sentence: np.ndarray, train_sentence: np.ndarray) -> np.ndarray:
    """Store rows (tokens) whose sentence is a training sentence: the k-NN datastore of the topology
    features. ``token_sentence``: sentence id of every store row; ``train_sentence``: boolean per
    sentence."""
    train_sentence = np.asarray(train_sentence, dtype=bool)
    return np.flatnonzero(train_sentence[np.asarray(token_sentence)])


def standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """(x − mean_train)/std_train per column (std 0 → 1); NaN (an undefined feature) becomes 0, the
    training mean."""
    mu = np.nanmean(train, axis=0)
    sd = np.nanstd(train, axis=0)
    mu = np.where(np.isfinite(mu), mu, 0.0)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    return [np.nan_to_num((a - mu) / sd, nan=0.0).astype(np.float32) for a in (train, *others)]


def softmax_regression(
    X: np.ndarray, y: np.ndarray, n_classes: int, *, C: float = 1.0, max_iter: int = 100, double: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression with an L2 penalty, fitted by full-batch L-BFGS (torch).

    Minimises Σᵢ −log softmax(W xᵢ + b)_{yᵢ} + ‖W‖²_F / (2C), sklearn's ``LogisticRegression(C=C)``
    objective (intercept not penalised), from W = 0, b = 0: deterministic, no seed needed. Returns
    (W of shape (n_classes, f), b). Computed in float32 (``double=True``: float64); sklearn's own lbfgs
    solver is an order of magnitude slower here.
    """
    import torch

    dt = torch.float64 if double else torch.float32
    Xt = torch.as_tensor(np.ascontiguousarray(X), dtype=dt)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
    W = torch.zeros((n_classes, Xt.shape[1]), dtype=dt, requires_grad=True)
    b = torch.zeros(n_classes, dtype=dt, requires_grad=True)
    opt = torch.optim.LBFGS(
        [W, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
        tolerance_grad=1e-7 if double else 1e-5, tolerance_change=1e-12 if double else 1e-9,
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(Xt @ W.T + b, yt, reduction="sum") + (W * W).sum() / (2 * C)
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach().numpy().astype(np.float64), b.detach().numpy().astype(np.float64)


def fit_predict(
    X_train: np.ndarray, y_train: Sequence[str], X_val: np.ndarray, *, C: float = 1.0, max_iter: int = 100
) -> np.ndarray:
    """Fit :func:`softmax_regression` on string tags and return the predicted tags of ``X_val``."""
    classes, y = np.unique(np.asarray(y_train), return_inverse=True)
    W, b = softmax_regression(X_train, y, classes.size, C=C, max_iter=max_iter)
    return classes[np.argmax(X_val.astype(np.float64) @ W.T + b, axis=1)]


def _sequences(tags: Sequence[str], sentence: np.ndarray) -> list[list[str]]:
    out: dict[int, list[str]] = {}
    for t, s in zip(tags, sentence, strict=True):
        out.setdefault(int(s), []).append(str(t))
    return [out[s] for s in sorted(out)]


def evaluate(
    lm: np.ndarray,
    topo: np.ndarray | Mapping[int, np.ndarray],
    words: WordData,
    seeds: Sequence[int],
    *,
    C: float = 1.0,
    max_iter: int = 100,
) -> pd.DataFrame:
    """Span F1 of the tagger with and without the topology block, one row per (condition, seed).

    ``lm`` holds one row per word (``words``), ``topo`` too, or a mapping seed → such an array when the
    topology features depend on the seed's split (a datastore of that seed's training tokens);
    ``words.doc_ids`` the article of every sentence.
    """
    from ...downstream.metrics import span_f1

    labels = np.asarray(words.labels)
    if not np.any(labels != "O"):
        raise BadInputError(
            "spaCy found no named entities in these sentences, so there is nothing to tag; "
            "use more sentences (--n-sentences)."
        )
    records = []
    for seed in seeds:
        val_sentence = article_split(words.doc_ids, seed)
        val = val_sentence[words.sentence]
        train = ~val
        if len(set(labels[train])) < 2:
            raise BadInputError("the training articles hold a single tag; use more sentences (--n-sentences).")
        gold = _sequences(labels[val], words.sentence[val])
        topo_s = topo[seed] if isinstance(topo, Mapping) else topo
        for condition in CONDITIONS:
            feats = lm if condition == "lm" else np.concatenate([lm, topo_s], axis=1)
            Xtr, Xva = standardise(feats[train], feats[val])
            t0 = time.perf_counter()
            pred = fit_predict(Xtr, labels[train], Xva, C=C, max_iter=max_iter)
            score = span_f1(gold, _sequences(pred, words.sentence[val]))
            records.append({
                "condition": condition, "seed": int(seed), "precision": score["precision"],
                "recall": score["recall"], "f1": score["f1"], "n_features": int(feats.shape[1]),
                "n_train_words": int(train.sum()), "n_val_words": int(val.sum()),
                "n_val_articles": int(np.unique(words.doc_ids[val_sentence]).size),
                "fit_s": round(time.perf_counter() - t0, 3),
            })
            log.info("seed %d %s: span F1 %.4f", seed, condition, score["f1"])
    return pd.DataFrame.from_records(records)


def paired_difference(
    scores: pd.DataFrame,
    *,
    treatment: str = "lm+topology",
    control: str = "lm",
    metric: str = "f1",
    confidence: float = 0.95,
) -> dict[str, float]:
    """Paired comparison over seeds of ``metric`` between two conditions: dₛ = treatment − control.

    Every seed is one article split on which both taggers were fitted and scored, so the per-seed
    differences are paired. Returned (NaN where undefined, e.g. one seed):

    * ``diff_mean`` = d̄, ``diff_sd`` = s (ddof 1), ``n_seeds`` = n;
    * paired t: ``ci_low``/``ci_high`` = d̄ ∓ t_{(1+confidence)/2, n−1}·s/√n, ``p_t`` (two-sided);
    * ``p_sign_flip``: exact two-sided sign-flip permutation p, the share of the 2ⁿ sign patterns ε with
      |mean(ε·d)| ≥ |d̄| (the observed pattern included). Its smallest possible value is 2/2ⁿ, so 5
      seeds cannot go below 0.0625 and 6 are needed for 0.05;
    * Nadeau & Bengio's (2003) corrected resampled t: ``ci_low_corrected``/``ci_high_corrected`` and
      ``p_corrected`` with s² (1/n + n_val/n_train) in place of s²/n. The seeds' validation sets are
      random article splits of one corpus and overlap, so the plain paired t treats dependent
      differences as independent and is too narrow; the correction (n_val/n_train from the mean word
      counts of the scores, about 0.25 here) widens it.
    """
    pivot = scores.pivot_table(index="seed", columns="condition", values=metric, aggfunc="first")
    missing = [c for c in (treatment, control) if c not in pivot]
    if missing:
        raise BadInputError(
            f"the scores have no condition {missing}; a paired test needs both {treatment!r} and {control!r}."
        )
    pivot = pivot.dropna(subset=[treatment, control])
    d = (pivot[treatment] - pivot[control]).to_numpy(dtype=np.float64)
    n = d.size
    nan = float("nan")
    mean = float(d.mean()) if n else nan
    sd = float(d.std(ddof=1)) if n > 1 else nan
    rows = scores.loc[scores["condition"] == treatment]
    ratio = nan
    if {"n_val_words", "n_train_words"} <= set(rows):
        ratio = float(rows["n_val_words"].mean() / rows["n_train_words"].mean())
    out: dict[str, float] = {"n_seeds": n, "diff_mean": mean, "diff_sd": sd, "confidence": confidence}
    se = sd / np.sqrt(n) if n > 1 else nan
    se_corrected = sd * np.sqrt(1 / n + ratio) if n > 1 else nan
    out["ci_low"], out["ci_high"], out["p_t"] = _t_interval(mean, se, n - 1, confidence)
    out["p_sign_flip"] = sign_flip_p(d) if n else nan
    out["val_train_ratio"] = ratio
    out["ci_low_corrected"], out["ci_high_corrected"], out["p_corrected"] = _t_interval(
        mean, se_corrected, n - 1, confidence
    )
    return out


def _t_interval(mean: float, se: float, dof: int, confidence: float) -> tuple[float, float, float]:
    """(low, high, two-sided p of mean = 0) of a t statistic mean/se with ``dof`` degrees of freedom."""
    from scipy import stats

    if dof < 1 or not np.isfinite(se):
        return float("nan"), float("nan"), float("nan")
    if se == 0:  # every seed gave the same difference
        return mean, mean, (1.0 if mean == 0 else 0.0)
    half = float(stats.t.ppf((1 + confidence) / 2, dof)) * se
    return mean - half, mean + half, float(2 * stats.t.sf(abs(mean) / se, dof))


def sign_flip_p(d: np.ndarray, *, exact_up_to: int = 16, n_draws: int = 100_000, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p of mean(d) = 0: share of sign patterns ε with
    |mean(ε·d)| ≥ |mean(d)| (relative tolerance 1e-12). Exact over all 2ⁿ patterns for n ≤
    ``exact_up_to``; otherwise ``n_draws`` seeded random patterns plus the observed one."""
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    if n == 0:
        return float("nan")
    if n <= exact_up_to:
        eps = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
    else:
        eps = np.vstack([np.ones(n), np.random.default_rng(seed).choice([-1.0, 1.0], size=(n_draws, n))])
    null = np.abs(eps @ d) / n
    obs = abs(d.mean())
    return float(np.mean(null >= obs * (1 - 1e-12)))


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation (ddof=1; 0 for a single seed) of the scores per condition.

    When both conditions are present the ``lm+topology`` row also carries the paired comparison with
    ``lm`` (:func:`paired_difference`): f1_diff, diff_ci_low, diff_ci_high, p_paired_t, p_sign_flip and
    the Nadeau–Bengio corrected diff_ci_low_nb, diff_ci_high_nb, p_nb.
    """
    g = scores.groupby("condition", sort=False)
    out = pd.DataFrame({
        "f1_mean": g["f1"].mean(),
        "f1_std": g["f1"].std(ddof=1).fillna(0.0),
        "precision_mean": g["precision"].mean(),
        "recall_mean": g["recall"].mean(),
        "n_seeds": g["seed"].count(),
    }).reset_index()
    if set(CONDITIONS) <= set(out["condition"]):
        p = paired_difference(scores)
        cols = {"f1_diff": p["diff_mean"], "diff_ci_low": p["ci_low"], "diff_ci_high": p["ci_high"],
                "p_paired_t": p["p_t"], "p_sign_flip": p["p_sign_flip"], "diff_ci_low_nb": p["ci_low_corrected"],
                "diff_ci_high_nb": p["ci_high_corrected"], "p_nb": p["p_corrected"]}
        for name, value in cols.items():
            out[name] = np.where(out["condition"] == CONDITIONS[1], value, np.nan)
    return out


def paired_sentence(p: dict[str, float]) -> str:
    """The paired comparison in one sentence (page and CLI)."""
    pct = round(100 * p.get("confidence", 0.95))
    return (
        f"lm+topology − lm: span F1 {p['diff_mean']:+.4f} over {int(p['n_seeds'])} seeds "
        f"({pct}% CI [{p['ci_low']:+.4f}, {p['ci_high']:+.4f}], paired t p = {p['p_t']:.3g}; "
        f"sign-flip p = {p['p_sign_flip']:.3g}; overlap-corrected (Nadeau–Bengio) CI "
        f"[{p['ci_low_corrected']:+.4f}, {p['ci_high_corrected']:+.4f}], p = {p['p_corrected']:.3g})"
    )


def _finite_or_none(v: Any) -> Any:
    return None if isinstance(v, float) and not np.isfinite(v) else v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with NaN as None (standard JSON)."""
    return [{k: _finite_or_none(v) for k, v in r.items()} for r in df.to_dict(orient="records")]


# -- the whole experiment --------------------------------------------------------------------------


def run_tagging(settings: TaggingSettings, *, cache_dir: str | Path, progress: bool = True) -> TaggingResult:
    """Run the experiment end to end on the bundled corpus (see the module docstring)."""
    from ...annotate import annotate
    from ...corpus import bundled_corpus, load_corpus_spec
    from ...settings import ExtractionSettings
    from ...store import open_store
    from ...layers import resolve_layers
    from ...measures.topology import require_tda, store_topology_features
    from ...models import ModelSpec, load_model

    require_tda()  # before the model, the corpus and the extraction
    cache = Path(cache_dir)
    t0 = time.perf_counter()
    spec = ModelSpec.parse(settings.model)
    if settings.corpus is None:
        corpus = bundled_corpus(settings.n_sentences, seed=settings.corpus_seed)
    else:
        corpus = load_corpus_spec(settings.corpus)
    lm = load_model(spec, cache_dir=cache)
    layer = resolve_layers(settings.layer, lm.num_layers)[0]
    options = ExtractionSettings()
    if not getattr(lm.tokenizer, "is_fast", False):  # checked before extraction writes a store
        raise BadInputError(f"{spec} has a slow tokenizer; word alignment needs a fast (Rust) tokenizer.")
    store, _ = open_store(lm, corpus.sentences, cache=cache, layers=[layer], settings=options, progress=progress)
    enc = lm.tokenizer(list(corpus.sentences), truncation=True, max_length=options.max_length,
                       return_offsets_mapping=True)
    annotations = annotate(corpus.sentences, cache_dir=cache, progress=progress, layers=("ner",))
    words = word_rows(store.tokens, enc["offset_mapping"], annotations)
    words.doc_ids = np.asarray(corpus.doc_ids)
    t_prep = time.perf_counter() - t0

    t0 = time.perf_counter()
    token_sentence = store.tokens["sentence_id"].to_numpy()
    topo: dict[int, np.ndarray] = {}
    datastore_tokens: dict[int, int] = {}
    specs = {}
    for seed in settings.seeds:
        train_rows = datastore_rows(token_sentence, ~article_split(words.doc_ids, seed))
        feats, names, specs[seed] = store_topology_features(
            store, layer, cache_dir=cache, k=settings.k, seed=settings.corpus_seed, n_jobs=settings.n_jobs,
            datastore=train_rows,
        )
        topo[seed] = feats[words.rows]
        datastore_tokens[seed] = int(train_rows.size)
    topo_spec = specs[settings.seeds[0]]
    t_topo = time.perf_counter() - t0

    t0 = time.perf_counter()
    H = np.asarray(store.layer(layer)[words.rows], dtype=np.float32)
    scores = evaluate(H, topo, words, settings.seeds, C=settings.C, max_iter=settings.max_iter)
    t_fit = time.perf_counter() - t0
    labels = pd.Series(words.labels)
    info = {
        "model": str(spec),
        "layer": layer,
        "store": store.key,
        "n_sentences": len(corpus),
        "corpus": corpus.source,
        "n_tokens": store.n_tokens,
        "n_words": int(words.rows.size),
        "n_entity_spans": int(labels.str.startswith("B-").sum()),
        "tags": sorted(labels.unique().tolist()),
        "topology_features": names,
        "topology_spec": topo_spec.to_json(),
        "topology_datastore": "training articles' tokens of each seed's split",
        "datastore_tokens": {str(k): v for k, v in datastore_tokens.items()},
        "topology_image_by_seed": {str(k): v.image.to_json() for k, v in specs.items()},
        "timings_s": {"prepare": round(t_prep, 2), "topology": round(t_topo, 2), "taggers": round(t_fit, 2)},
    }
    return TaggingResult(settings, scores, summarise(scores), info)


# -- outputs ---------------------------------------------------------------------------------------


def f1_figure(scores: pd.DataFrame, *, title: str) -> bytes:
    """Span F1 per condition: mean ± std bars with each seed as a dot; PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = list(dict.fromkeys(scores["condition"]))
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    for i, c in enumerate(conditions):
        f1 = scores.loc[scores["condition"] == c, "f1"].to_numpy()
        ax.bar(i, f1.mean(), yerr=f1.std(ddof=1) if f1.size > 1 else 0.0, color=f"C{i}", alpha=0.6, capsize=4)
        ax.scatter(np.full(f1.size, i), f1, color="k", s=10, zorder=3)
    ax.set_ylim(0.0, min(1.0, float(scores["f1"].max()) + 0.05))  # bars start at 0: no exaggeration
    ax.set_xticks(range(len(conditions)), conditions)
    ax.set_ylabel("span F1 (validation articles)")
    ax.set_title(title, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return png(fig)


def render_html(result: TaggingResult) -> str:
    s, info = result.settings, result.info
    png = f1_figure(result.scores, title=f"{info.get('model', s.model)}, layer {info.get('layer', s.layer)}, k={s.k}")
    table = result.summary.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, na_rep="")
    per_seed = result.scores.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0)
    from ...report.sections import standalone_page

    body = (
        "<h1>Named-entity tagging with and without local topology features</h1>"
        f"<p>{html.escape(str(info.get('model')))}, layer {info.get('layer')}, {info.get('n_sentences')} "
        f"sentences of {html.escape(str(info.get('corpus', 'bundled BBC News')))} ({info.get('n_words')} words, {info.get('n_entity_spans')} entity spans, labels from "
        f"spaCy), split by article; multinomial logistic regression per word (first subword vector); "
        f"local topology with k={s.k} ({len(info.get('topology_features', []))} features), neighbours drawn from "
        "a datastore of the training articles' tokens only (per seed), persistence-image ranges fitted on "
        "them.</p>"
        f"<figure><img alt='span F1 per condition' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        "<figcaption>CoNLL span F1, mean ± std over seeds; dots are seeds.</figcaption></figure>"
        f"<h2>With vs without topology (paired over seeds)</h2><p>{html.escape(paired_sentence(result.paired))}. "
        "Each seed is one article split on which both taggers are fitted; the sign-flip test is exact over "
        "all sign patterns (its smallest p is 2/2<sup>n</sup>); the corrected interval accounts for the overlap "
        "of the seeds' validation sets (Nadeau &amp; Bengio 2003).</p>"
        f"<h2>Summary</h2>{table}<h2>Per seed</h2>{per_seed}"
    )
    return standalone_page("latentatlas topology tagging", body,
                           "body{max-width:60em} table{border-collapse:collapse} td,th{padding:2px 8px;text-align:right}")


def write_tagging(result: TaggingResult, out_dir: Path) -> dict[str, Path]:
    """Write ``tagging.csv`` (per seed), ``tagging_summary.csv``, ``tagging.json`` and ``tagging.html``.

    Everything is rendered first, then written atomically file by file.
    """
    from ...io import atomic_write_json, atomic_write_text

    page = render_html(result)
    per_seed = result.scores.to_csv(index=False)
    summary = result.summary.to_csv(index=False)
    payload = result.to_json()
    out_dir = Path(out_dir)
    return {
        "tagging.csv": atomic_write_text(out_dir / "tagging.csv", per_seed),
        "tagging_summary.csv": atomic_write_text(out_dir / "tagging_summary.csv", summary),
        "tagging.json": atomic_write_json(out_dir / "tagging.json", payload),
        "tagging.html": atomic_write_text(out_dir / "tagging.html", page),
    }


__all__ = [
    "CONDITIONS",
    "TaggingResult",
    "TaggingSettings",
    "WordData",
    "article_split",
    "datastore_rows",
    "evaluate",
    "f1_figure",
    "paired_difference",
    "paired_sentence",
    "render_html",
    "run_tagging",
    "sign_flip_p",
    "standardise",
    "summarise",
    "word_rows",
    "write_tagging",
]
