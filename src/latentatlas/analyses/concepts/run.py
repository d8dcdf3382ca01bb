"""``latentatlas concepts``: the latent-concept analysis of a pre-trained model and its fine-tuned copy.

After Durrani et al. (2022, EMNLP, "On the Transformation of Latent Space in Fine-Tuned NLP Models"):

1. **Models**: the pre-trained model A and B = A fine-tuned on the task (:func:`~latentatlas.downstream.
   finetune.finetune`, cached) or any folder given as ``tuned``.
2. **Corpus**: a seeded sample of ``n_sentences`` sentences of the task that fine-tuning never saw
   (:func:`analysis_sentences`; ``analysis_split``: ``validation``, the task's validation split minus the
   sentences that evaluate fine-tuning and serve as trigger inputs, or ``heldout``, a part of the train
   split left out of fine-tuning and the probes), each with its gold class; or, with ``corpus``, a user
   corpus's sentences without gold classes (:func:`corpus_sentences`). Both models are extracted
   on it; one occurrence sample (≤ ``max_per_type`` per word type, types with ≥ ``min_per_type``,
   seeded) serves both (:func:`.sample.shared_occurrences`), so the two models must tokenise the words
   identically.
3. **Concepts**: per layer and model, exact Ward (:func:`.cluster.ward_tree`) built once and cut at K:
   by default K scales with the occurrences at the papers' ratio (:func:`.cluster.default_k`, ≈ 417
   occurrences per concept), and the same trees are cut at every K of the sweep (:func:`.cluster.sweep_ks`).
4. **Alignment** A↔B per layer (:func:`.align.alignment_curves`) with permutation chance.
5. **Labels** per occurrence (spaCy POS/PTB/NER/dependency and lexical sets, plus an optional user label
   file) and the share of concepts aligned to a label at θ (:func:`.label.label_alignment`).
6. **Classifiers** (see :mod:`.triggers`): A + logistic probe on its last layer (mean-pooled) and B with
   its fine-tuned classification head (saved by the fine-tuning run, or a ``--tuned`` folder that has
   one), else B + the same kind of probe. B's predictions on the analysed sentences (held out from its
   training) are the ``predicted`` labels.
7. **Polarity** per layer, model and label source (``gold``, ``predicted``) (:mod:`.polarity`): purity
   > θ over occurrences, and enrichment tested over distinct sentences (each token carries its
   sentence's label, so tokens are not independent), BH-corrected per layer.
8. **Triggers**: at ``trigger_layer``, for the polar concepts (``trigger_source`` labels) of each model
   in ``trigger_models`` (default B) and each class c, the top polar words vs. random and
   frequency-matched words, inserted into correctly classified validation inputs of the other classes,
   scored on both classifiers (transfer across models).

The **K sweep** (:func:`k_sweep_table`) repeats the alignment summary and the polar-concept counts at
every K of the sweep, from the same trees.

Outputs (:func:`write_concepts`, written only after everything is computed): CSV tables, one JSON,
``words.txt`` (the analysed sentences split into the model's words: the format of ``--labels``) and an
HTML page; :func:`render_section` gives the same content as an HTML fragment for a report.
"""

from __future__ import annotations

import base64
import html
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import BadInputError
from ...registry import Registry
from ...settings import ConceptSettings
from .align import DEFAULT_MIN_TYPES, DEFAULT_SIZE_RATIO
from .cluster import DEFAULT_K, PAPER_OCCURRENCES
from .label import LABEL_SETS, UNK

log = logging.getLogger(__name__)

MODELS = ("pretrained", "finetuned")


def label_sets_of(settings: ConceptSettings) -> tuple[str, ...]:
    """The label sets the analysis uses: the settings' (checked against the registry) or every one."""
    if settings.label_sets is None:
        return tuple(LABEL_SETS)
    for name in settings.label_sets:
        LABEL_SETS[name]
    return tuple(settings.label_sets)
#: where the analysed sentences come from -> what the output says about them
ANALYSIS_SPLITS: Registry[str] = Registry.of("analysis split", {
    "validation": "the task's validation split, without the validation sentences that evaluate fine-tuning and "
                  "serve as trigger inputs; disjoint from the fine-tuning data",
    "heldout": "a seeded part of the task's train split that fine-tuning and the probes never saw",
})
WORD_SETS = ("polar", "random", "frequency")
TRIGGER_SCORES = ("flip_rate", "flip_rate_lo", "flip_rate_hi", "flip_to_target_rate", "flip_to_target_lo",
                  "flip_to_target_hi", "confidence_drop", "target_gain")


@dataclass
class ConceptsResult:
    """Every table of the analysis, and what produced it."""

    settings: ConceptSettings
    alignment: pd.DataFrame  # layer, measure, theta, value, chance, excess
    labels: pd.DataFrame  # model, layer, label_set, n_concepts, n_aligned, fraction_aligned, labels_covered, top
    polarity: pd.DataFrame  # model, layer, source, concept, class, ..., polar, examples
    polarity_summary: pd.DataFrame
    triggers: pd.DataFrame  # concepts_from, classifier, target, target_name, word_set, flip_rate, ...
    k_sweep: pd.DataFrame = field(default_factory=pd.DataFrame)  # k, layer, alignment excess, polar counts
    words_text: str = ""  # the analysed sentences as the model's words, one line per sentence
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        import json

        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(df.to_json(orient="records", double_precision=6))

        return {
            "settings": {**self.settings.model_dump(mode="json"), "label_sets": list(label_sets_of(self.settings)),
                         "trigger_models": list(self.settings.trigger_models),
                         "k_sweep": None if self.settings.k_sweep is None else list(self.settings.k_sweep)},
            **self.info,
            "alignment": records(self.alignment),
            "labels": records(self.labels),
            "polarity_summary": records(self.polarity_summary),
            "polar_concepts": records(self.polarity.loc[self.polarity["polar"]]),
            "triggers": records(self.triggers),
            "k_sweep": records(self.k_sweep),
        }


# -- pieces ----------------------------------------------------------------------------------------


def read_label_file(path: str | Path, words: pd.DataFrame, n_sentences: int) -> pd.Series:
    """User labels of every word: one line per analysed sentence, whitespace-separated, one label per
    model word (the layout of ``words.txt``). Returns a Series indexed by (sentence_id, word_id)."""
    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"label file {str(p)!r} does not exist; write one line of labels per analysed sentence.")
    lines = p.read_text(encoding="utf-8").splitlines()
    if len(lines) != n_sentences:
        raise BadInputError(
            f"label file {str(p)!r} has {len(lines)} lines for {n_sentences} analysed sentences; it does not line "
            "up with the tokens: write one line per sentence of words.txt (same --n-sentences and --seed)."
        )
    per_sentence = words.groupby("sentence_id").size().reindex(range(n_sentences), fill_value=0).to_numpy()
    values: list[str] = []
    for i, line in enumerate(lines):
        labels = line.split()
        if len(labels) != per_sentence[i]:
            raise BadInputError(
                f"label file {str(p)!r} line {i + 1} has {len(labels)} labels for {per_sentence[i]} words; it does "
                "not line up with the tokens: give one label per word of the same line of words.txt."
            )
        values.extend(labels)
    ordered = words.sort_values(["sentence_id", "word_id"])
    return pd.Series(values, index=pd.MultiIndex.from_frame(ordered[["sentence_id", "word_id"]]))


def words_text(words: pd.DataFrame, n_sentences: int) -> str:
    """The analysed sentences as the model's words: one line per sentence, words separated by spaces."""
    grouped = words.sort_values(["sentence_id", "word_id"]).groupby("sentence_id")["word"].apply(" ".join)
    return "\n".join(grouped.reindex(range(n_sentences), fill_value="")) + "\n"


def label_table(concepts: np.ndarray, labels: pd.DataFrame, *, theta: float, min_size: int) -> pd.DataFrame:
    """Per label set: concepts aligned at θ, share of concepts, labels covered, the most common label."""
    from .label import label_alignment

    rows = []
    for name in labels.columns:
        al = label_alignment(concepts, labels[name].to_numpy(), theta=theta, min_size=min_size)
        ok = al.loc[al["aligned"]]
        n_labels = len(set(labels[name]) - {UNK})
        rows.append({
            "label_set": name, "n_concepts": len(al), "n_aligned": int(len(ok)),
            "fraction_aligned": float(len(ok) / max(len(al), 1)),
            "labels_covered": int(ok["top_label"].nunique()), "n_labels": n_labels,
            "top": ", ".join(ok["top_label"].value_counts().head(4).index),
        })
    return pd.DataFrame(rows)


def trigger_table(
    concepts: np.ndarray,
    words: np.ndarray,
    polar: pd.DataFrame,
    frequencies: dict[str, int],
    classifiers: dict[str, Any],
    texts: Sequence[str],
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    base: dict[str, np.ndarray],
    n_words: int,
    n_insert: int,
    position: str,
    seed: int,
) -> pd.DataFrame:
    """Trigger results of one concept model's polar concepts for every class, on every classifier."""
    from .triggers import evaluate_triggers, frequency_matched_words, polar_words, random_words

    polar_vocab = set(words[np.isin(concepts, polar.loc[polar["polar"], "concept"].unique())])
    frames = []
    for c, cname in enumerate(class_names):
        trig = polar_words(concepts, words, polar, c, n_words=n_words)
        if not trig:
            continue
        sets = {
            "polar": trig,
            "random": random_words(list(frequencies), len(trig), exclude=polar_vocab, seed=seed + c),
            "frequency": frequency_matched_words(trig, frequencies, exclude=polar_vocab, seed=seed + c),
        }
        for clf_name, clf in classifiers.items():
            df = evaluate_triggers(clf, texts, labels, c, sets, n_insert=n_insert, position=position, seed=seed,
                                   base_proba=base[clf_name])
            frames.append(df.assign(classifier=clf_name, target_name=cname))
    cols = ["classifier", "target", "target_name", "word_set", "n_inputs", *TRIGGER_SCORES, "words"]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


def resolve_k(k: int | None, n_occurrences: int) -> int:
    """The K to cut at: ``k`` if given (it must not exceed the occurrences), else :func:`.cluster.default_k`."""
    from .cluster import default_k

    if k is None:
        return default_k(n_occurrences)
    if k > n_occurrences:
        raise BadInputError(
            f"K={k} concepts is larger than the {n_occurrences} sampled occurrences; lower --k (or leave it unset "
            "to scale K with the occurrences) or analyse more sentences (--n-sentences)."
        )
    return int(k)


def k_sweep_table(
    cuts: dict[str, dict[int, dict[int, np.ndarray]]],
    words: np.ndarray,
    sources: dict[str, np.ndarray],
    class_names: Sequence[str],
    *,
    theta: float,
    n_perm: int,
    seed: int,
    polarity_kw: dict[str, Any],
) -> pd.DataFrame:
    """Per (K, layer): occurrences per concept, alignment excess over chance at θ, and polar concepts.

    ``cuts[model][k][layer]`` are the concepts of every occurrence, each K cut from the one tree of
    (model, layer). Columns: ``k``, ``layer``, ``occurrences_per_concept``, ``occ_a_to_b_excess``,
    ``type_a_to_b_excess``, ``ami``, ``ami_chance``, ``ari``, ``ari_chance`` and ``polar_<model>_<source>``
    (number of polar concepts).
    """
    from .align import alignment_curves
    from .polarity import polarity_by_layer, polarity_summary

    rows = []
    for k in sorted(cuts[MODELS[0]]):
        al = alignment_curves(cuts[MODELS[0]][k], cuts[MODELS[1]][k], words, thetas=[theta], n_perm=n_perm, seed=seed)
        pol = pd.concat([polarity_by_layer(cuts[m][k], sources, class_names, **polarity_kw).assign(model=m)
                         for m in MODELS], ignore_index=True)
        summary = polarity_summary(pol)
        for layer in sorted(set(al["layer"])):
            d = al.loc[al["layer"] == layer].set_index("measure")
            row: dict[str, Any] = {
                "k": int(k), "layer": int(layer), "occurrences_per_concept": float(words.size / k),
                "occ_a_to_b_excess": float(d.loc["occ_a_to_b", "excess"]),
                "type_a_to_b_excess": float(d.loc["type_a_to_b", "excess"]),
                "ami": float(d.loc["ami", "value"]), "ami_chance": float(d.loc["ami", "chance"]),
                "ari": float(d.loc["ari", "value"]), "ari_chance": float(d.loc["ari", "chance"]),
            }
            for m in MODELS:
                for src in sources:
                    hit = summary.loc[(summary["model"] == m) & (summary["layer"] == layer) & (summary["source"] == src),
                                      "n_polar_concepts"]
                    row[f"polar_{m}_{src}"] = int(hit.sum())
            rows.append(row)
    return pd.DataFrame(rows)


def analysis_sentences(
    task: Any, split: str, n: int, *, seed: int, cache_dir: str | Path | None = None
) -> tuple[list[str], np.ndarray]:
    """``n`` seeded sentences (and gold classes) of ``split`` that ``task`` (the fine-tuning task) does
    not contain: neither its train split (fine-tuning, probes) nor its validation split (fine-tuning's
    evaluation, the trigger inputs).

    ``validation`` draws from the task's validation split, ``heldout`` from its train split beyond the
    ``len(task.train)`` examples fine-tuning uses (:data:`ANALYSIS_SPLITS`). The task is loaded again with
    ``n`` more examples of that split and every sentence whose text is in ``task`` is dropped, so the
    sample is disjoint from fine-tuning by text, whatever the loader's sampling.
    """
    from ...downstream.tasks import load_task

    ANALYSIS_SPLITS[split]  # an unknown split fails here, before the task is loaded again
    n_train, n_eval = len(task.train), len(task.validation)
    wider = load_task(task.info.name, seed=seed, cache_dir=cache_dir,
                      max_train=n_train + (n if split == "heldout" else 0),
                      max_eval=n_eval + (n if split == "validation" else 0))
    source = wider.validation if split == "validation" else wider.train
    used = set(task.train.text_a) | set(task.validation.text_a)
    free = np.array([i for i, t in enumerate(source.text_a) if t not in used], dtype=np.int64)
    if free.size < n:
        raise BadInputError(
            f"only {free.size} {split} sentences of {task.info.name!r} are unused by fine-tuning and the trigger inputs "
            f"for --n-sentences={n}; lower --n-sentences, --max-train or --max-eval, or use the other --analysis-split."
        )
    rows = free[_seeded_subset(free.size, n, seed)]
    return [source.text_a[i] for i in rows], np.asarray(source.labels)[rows].astype(np.int64)


def corpus_sentences(spec: Any, task: Any) -> tuple[list[str], str, int]:
    """The analysed sentences of a corpus (:class:`~latentatlas.settings.CorpusSpec`, filtered and sampled
    as everywhere), without those in ``task``'s train or validation split (fine-tuning, probes, trigger
    inputs). Returns (sentences, the corpus's source, how many were left out)."""
    from ...corpus import load_corpus_spec

    corpus = load_corpus_spec(spec)
    used = set(task.train.text_a) | set(task.validation.text_a)
    sentences = [s for s in corpus.sentences if s not in used]
    if len(sentences) < 10:
        raise BadInputError(
            f"corpus {corpus.source} gives {len(sentences)} sentences unused by fine-tuning; the analysis needs at "
            "least 10: use a larger corpus or --n-sentences."
        )
    if len(sentences) < len(corpus):
        log.warning("%d corpus sentences are in the fine-tuning data and were left out", len(corpus) - len(sentences))
    return sentences, corpus.source, len(corpus) - len(sentences)


def _seeded_subset(n: int, m: int, seed: int) -> np.ndarray:
    return np.arange(n) if m >= n else np.sort(np.random.default_rng(seed).choice(n, m, replace=False))


# -- the whole analysis ----------------------------------------------------------------------------


def run_concepts(settings: ConceptSettings, *, cache_dir: str | Path, progress: bool = True) -> ConceptsResult:
    """Run the analysis end to end (see the module docstring)."""
    from ...annotate import annotate
    from ...downstream.finetune import finetune
    from ...downstream.tasks import get_task, load_task
    from ...settings import ExtractionSettings, FinetuneSettings
    from ...store import open_store
    from ...layers import resolve_layers
    from ...models import load_model
    from .align import alignment_curves
    from .cluster import sweep_ks, ward_tree
    from .label import ANNOTATION_LAYERS, occurrence_labels, word_spans
    from .polarity import polarity_by_layer, polarity_summary
    from .sample import occurrence_vectors, shared_occurrences, word_table
    from .triggers import HeadClassifier, ProbeClassifier, has_classification_head

    label_sets = label_sets_of(settings)  # unknown label sets fail before any work
    cache = Path(cache_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    info = get_task(settings.task).info  # the kind is checked before loading writes any cache entry
    if info.kind != "classification" or info.pair:
        raise BadInputError(
            f"task {info.name!r} is a {'pair' if info.pair else info.kind} task; concepts need a single-sentence "
            "classification task such as bbc_topic."
        )
    task = load_task(settings.task, seed=settings.seed, max_train=settings.max_train, max_eval=settings.max_eval,
                     cache_dir=cache)
    lm_a = load_model(settings.model, cache_dir=cache)
    finetune_info: dict[str, Any] = {}
    if settings.tuned is None:
        ft = finetune(lm_a.model, lm_a.tokenizer, task, model_key=lm_a.fingerprint, cache_dir=cache,
                      seed=settings.seed, settings=FinetuneSettings(epochs=settings.finetune_epochs), progress=progress)
        tuned = str(ft.model_dir)
        head_dir = None if ft.classifier_dir is None else str(ft.classifier_dir)
        finetune_info = {"metrics": ft.metrics, "seconds": round(ft.seconds, 1), "examples_per_s": ft.examples_per_s}
    else:
        tuned = head_dir = settings.tuned
    lm_b = load_model(tuned, cache_dir=cache)
    timings["models_and_finetune"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    gold_sentence: np.ndarray | None = None
    if settings.corpus is None:
        sentences, gold_sentence = analysis_sentences(task, settings.analysis_split, settings.n_sentences,
                                                      seed=settings.seed, cache_dir=cache)
        described, n_left_out = ANALYSIS_SPLITS[settings.analysis_split], 0
    else:
        sentences, source, n_left_out = corpus_sentences(settings.corpus, task)
        described = f"the corpus {source}, without sentences of the task's fine-tuning data; no gold classes"
    layers = resolve_layers(settings.layers, lm_a.num_layers)
    resolve_layers(settings.layers, lm_b.num_layers)
    trigger_layer = resolve_layers(settings.trigger_layer, lm_a.num_layers)[0]
    stores = {
        name: open_store(lm, sentences, cache=cache, layers=sorted(set(layers) | {trigger_layer}), progress=progress)[0]
        for name, lm in zip(MODELS, (lm_a, lm_b))
    }
    occ = shared_occurrences(stores["pretrained"], stores["finetuned"], max_per_type=settings.max_per_type,
                             min_per_type=settings.min_per_type, seed=settings.seed)
    k = resolve_k(settings.k, len(occ))
    ks = sorted({min(x, len(occ)) for x in (settings.k_sweep or sweep_ks(k, len(occ)))} | {k})
    all_words = word_table(stores["pretrained"])
    frequencies = all_words["word"].value_counts().to_dict()
    user_labels = (
        read_label_file(settings.labels_file, all_words, len(sentences)) if settings.labels_file is not None else None
    )
    timings["extract"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    spans = word_spans(lm_a.tokenizer, sentences, ExtractionSettings().max_length)
    need = sorted({ANNOTATION_LAYERS[s] for s in label_sets if s in ANNOTATION_LAYERS})
    annotations = annotate(sentences, cache_dir=cache, progress=progress, layers=tuple(need)) if need else None
    labels = occurrence_labels(occ, sentences, spans, annotations, label_sets)
    if user_labels is not None:
        keys = pd.MultiIndex.from_frame(occ[["sentence_id", "word_id"]].astype(np.int64))
        labels[Path(settings.labels_file).stem] = user_labels.reindex(keys).to_numpy()  # type: ignore[arg-type]
    timings["labels"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # one Ward tree per (model, layer), cut at K and at every K of the sweep
    cuts: dict[str, dict[int, dict[int, np.ndarray]]] = {m: {kk: {} for kk in ks} for m in MODELS}
    for layer in sorted(set(layers) | {trigger_layer}):
        for m in MODELS:
            X = occurrence_vectors(stores[m], layer, occ, settings.aggregation)  # type: ignore[arg-type]
            for kk, labels_k in ward_tree(X).cut(ks).items():
                cuts[m][kk][layer] = labels_k
            log.info("clustered %s layer %d: %d occurrences, cut at K=%s", m, layer, len(X), ks)
    concepts = {m: cuts[m][k] for m in MODELS}
    timings["cluster"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    words = occ["word"].to_numpy(dtype=object).astype(str)
    in_layers = {m: {l: concepts[m][l] for l in layers} for m in MODELS}
    alignment = alignment_curves(in_layers["pretrained"], in_layers["finetuned"], words,
                                 n_perm=settings.n_perm, seed=settings.seed)
    label_rows = [
        label_table(concepts[m][l], labels, theta=settings.theta, min_size=settings.min_concept_size).assign(model=m, layer=l)
        for m in MODELS for l in layers
    ]
    label_df = pd.concat(label_rows, ignore_index=True)
    label_df = label_df[["model", "layer"] + [c for c in label_df.columns if c not in ("model", "layer")]]
    timings["align_and_label"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    clf_a = ProbeClassifier.fit(lm_a.model, lm_a.tokenizer, task, layer=-1)
    clf_b: Any = (HeadClassifier.load(head_dir) if head_dir is not None and has_classification_head(head_dir)
                  else ProbeClassifier.fit(lm_b.model, lm_b.tokenizer, task, layer=-1))
    classifiers = {"pretrained+probe": clf_a, "finetuned" + ("" if isinstance(clf_b, HeadClassifier) else "+probe"): clf_b}
    # the analysed sentences are held out from fine-tuning and from the probes: B's own predictions
    predicted_sentence = clf_b.proba(sentences).argmax(1).astype(np.int64)
    occ_sentence = occ["sentence_id"].to_numpy(dtype=np.int64)
    sources = {"predicted": predicted_sentence[occ_sentence]}
    if gold_sentence is not None:
        sources = {"gold": gold_sentence[occ_sentence], **sources}
    # significance counts sentences (every token carries its sentence's label); purity > θ as for labels
    polarity_kw: dict[str, Any] = {"units": occ_sentence, "test": settings.polarity_test, "alpha": settings.alpha,
                                   "min_size": settings.min_concept_size, "min_purity": settings.theta}
    polarity = pd.concat([
        polarity_by_layer({l: concepts[m][l] for l in sorted(set(layers) | {trigger_layer})}, sources, info.labels,
                          words=words, **polarity_kw).assign(model=m)
        for m in MODELS
    ], ignore_index=True)
    polarity = polarity[["model"] + [c for c in polarity.columns if c != "model"]]
    summary = polarity_summary(polarity)
    timings["classifiers_and_polarity"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sweep = k_sweep_table({m: {kk: {l: cuts[m][kk][l] for l in layers} for kk in ks} for m in MODELS}, words, sources,
                          info.labels, theta=settings.theta, n_perm=settings.n_perm, seed=settings.seed,
                          polarity_kw=polarity_kw)
    timings["k_sweep"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    val_rows = _seeded_subset(len(task.validation), settings.n_trigger_inputs, settings.seed + 1)
    val_texts = [task.validation.text_a[i] for i in val_rows]
    val_labels = np.asarray(task.validation.labels)[val_rows].astype(np.int64)
    base = {name: clf.proba(val_texts) for name, clf in classifiers.items()}
    accuracy = {name: float((p.argmax(1) == val_labels).mean()) for name, p in base.items()}
    trig_frames = []
    for m in settings.trigger_models:
        sel = polarity.loc[(polarity["model"] == m) & (polarity["layer"] == trigger_layer)
                           & (polarity["source"] == settings.trigger_source)]
        df = trigger_table(concepts[m][trigger_layer], words, sel, frequencies, classifiers, val_texts, val_labels,
                           info.labels, base=base, n_words=settings.n_trigger_words, n_insert=settings.n_insert,
                           position=settings.position, seed=settings.seed)
        trig_frames.append(df.assign(concepts_from=m, layer=trigger_layer))
    triggers = pd.concat(trig_frames, ignore_index=True)
    triggers = triggers[["concepts_from", "layer"] + [c for c in triggers.columns if c not in ("concepts_from", "layer")]]
    timings["triggers"] = time.perf_counter() - t0

    run_info = {
        "pretrained": str(lm_a.spec), "finetuned": tuned, "task": info.name, "classes": list(info.labels),
        "finetune": finetune_info, "layers": layers, "trigger_layer": trigger_layer,
        "analysis_split": settings.analysis_split if settings.corpus is None else "corpus",
        "analysis_sentences": described, "corpus_sentences_left_out": n_left_out,
        "analysed_sentences_in_finetuning": len(set(sentences) & set(task.train.text_a)),
        "n_sentences": len(sentences), "n_occurrences": int(len(occ)), "n_types": int(occ["word"].nunique()),
        "k": k, "k_rule": "given (--k)" if settings.k is not None else
        f"default_k: round(n_occurrences × {DEFAULT_K} / {PAPER_OCCURRENCES:,}), the papers' ratio",
        "k_values": ks,
        "classifier_accuracy": accuracy, "polarity_unit": "sentence",
        "predicted_agrees_with_gold": (None if gold_sentence is None
                                       else float((predicted_sentence == gold_sentence).mean())),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    return ConceptsResult(settings, alignment, label_df, polarity, summary, triggers, sweep,
                          words_text(all_words, len(sentences)), run_info)


# -- outputs ---------------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    from ...report.figures import png

    return base64.b64encode(png(fig, dpi=100)).decode()


def figures(result: ConceptsResult) -> dict[str, str]:
    """Base64 PNGs: alignment per layer (with chance), label alignment per layer, polar concepts per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    theta = result.settings.theta
    out: dict[str, str] = {}
    a = result.alignment
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for i, (measure, label) in enumerate((("occ_a_to_b", "occurrences A→B"), ("type_a_to_b", "types A→B"),
                                          ("occ_b_to_a", "occurrences B→A"))):
        d = a.loc[(a["measure"] == measure) & np.isclose(a["theta"].fillna(-1), theta)].sort_values("layer")
        if d.empty:
            d = a.loc[a["measure"] == measure].groupby("layer", as_index=False)[["excess"]].mean()
        ax.plot(d["layer"], d["excess"], "o-", color=f"C{i}", label=label)
    for measure, style in (("ami", "s--"), ("ari", "^:")):
        d = a.loc[a["measure"] == measure].sort_values("layer")
        ax.plot(d["layer"], d["excess"], style, color="k", label=measure.upper())
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("layer")
    ax.set_ylabel(f"share aligned − chance (θ={theta})")
    ax.set_title("pre-trained (A) vs fine-tuned (B): excess over permuted B", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    out["alignment"] = _png(fig)

    lab = result.labels
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, m in zip(axes, MODELS):
        for i, (name, d) in enumerate(lab.loc[lab["model"] == m].groupby("label_set")):
            ax.plot(d["layer"], d["fraction_aligned"], "o-", color=f"C{i % 10}", label=name)
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"concepts aligned to a label (θ={theta})")
    axes[1].legend(fontsize=7)
    out["labels"] = _png(fig)

    s = result.polarity_summary
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for i, ((m, src), d) in enumerate(s.groupby(["model", "source"])):
        ax.plot(d["layer"], d["n_polar_concepts"], "o-" if m == "finetuned" else "o--", color=f"C{i}", label=f"{m}, {src}")
    ax.set_xlabel("layer")
    ax.set_ylabel(f"polar concepts (purity > {theta}, BH q ≤ {result.settings.alpha})", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    out["polarity"] = _png(fig)
    return out


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0, escape=True)


def _alignment_table(alignment: pd.DataFrame, theta: float) -> pd.DataFrame:
    """Per layer: value, chance and excess of occurrence- and type-level A→B at θ, and of AMI and ARI."""
    at_theta = np.isclose(alignment["theta"].fillna(-1), theta)
    pieces = []
    for measure, name, mask in (("occ_a_to_b", "occ A→B", at_theta), ("type_a_to_b", "type A→B", at_theta),
                                ("ami", "AMI", alignment["theta"].isna()), ("ari", "ARI", alignment["theta"].isna())):
        d = alignment.loc[mask & (alignment["measure"] == measure), ["layer", "value", "chance", "excess"]]
        pieces.append(d.set_index("layer").add_prefix(f"{name} "))
    return pd.concat(pieces, axis=1).reset_index()


def render_section(result: ConceptsResult) -> str:
    """The analysis as an HTML fragment (a ``<section>``) for :mod:`latentatlas.report` or a page."""
    s, info = result.settings, result.info
    figs = figures(result)
    align_tab = _alignment_table(result.alignment, s.theta)
    polar = result.polarity.loc[result.polarity["polar"] & (result.polarity["model"] == "finetuned")
                                & (result.polarity["layer"] == info.get("trigger_layer"))]
    top_polar = (polar.sort_values("q").groupby(["source", "class_name"]).head(3)
                 [["source", "class_name", "concept", "size", "purity", "prior", "n_units", "unit_count", "q",
                   "examples"]])
    trig = result.triggers.drop(columns=["words"]) if len(result.triggers) else result.triggers
    trig_mean = (trig.groupby(["concepts_from", "classifier", "word_set"], as_index=False)
                 [["flip_rate", "flip_to_target_rate", "confidence_drop"]].mean() if len(trig) else trig)
    words = result.triggers.loc[result.triggers["word_set"] == "polar", ["concepts_from", "target_name", "words"]].drop_duplicates()
    ft = info.get("finetune") or {}
    return (
        "<section id='concepts'><h2>Latent concepts: pre-trained vs fine-tuned</h2>"
        f"<p>{html.escape(str(info.get('pretrained')))} (A) and its fine-tuned copy (B, "
        f"{html.escape(str(info.get('finetuned')))}) on task <b>{html.escape(str(info.get('task')))}</b>"
        + (f" (fine-tuning validation score {ft['metrics'].get('score', float('nan')):.3f})" if ft else "")
        + f"; {info.get('n_sentences')} analysed sentences from {html.escape(str(info.get('analysis_sentences')))}"
        f" ('{html.escape(str(info.get('analysis_split')))}'), {info.get('n_occurrences')} occurrences of "
        f"{info.get('n_types')} word types (≤{s.max_per_type} per type, ≥{s.min_per_type}), exact Ward, K={info.get('k')} "
        f"({html.escape(str(info.get('k_rule')))}; {info.get('n_occurrences', 0) / max(info.get('k') or 1, 1):.0f} "
        "occurrences per concept), "
        f"subword aggregation '{s.aggregation}'. Classifier accuracy on the trigger inputs: "
        + ", ".join(f"{html.escape(k)} {v:.3f}" for k, v in info.get("classifier_accuracy", {}).items())
        + ".</p>"
        f"<h3>Alignment per layer</h3><img alt='alignment per layer' src='data:image/png;base64,{figs['alignment']}'>"
        f"<p>Share of concepts aligned at θ={s.theta} (overlap &gt; θ), its chance level (B's concepts permuted "
        "over the occurrences, sizes kept) and the excess over chance. Type level: a concept needs more than "
        f"{DEFAULT_MIN_TYPES} word types and |T(a)|/|T(b)| &gt; {DEFAULT_SIZE_RATIO} (alignClusters.py).</p>"
        f"{_table(align_tab)}"
        f"<h3>Label alignment per layer</h3><img alt='label alignment' src='data:image/png;base64,{figs['labels']}'>"
        f"{_table(result.labels.pivot_table(index=['model', 'layer'], columns='label_set', values='fraction_aligned').reset_index())}"
        f"<h3>Polar concepts</h3><img alt='polar concepts per layer' src='data:image/png;base64,{figs['polarity']}'>"
        f"<p>A concept is polar to class c when more than θ={s.theta} of its occurrences come from class-c "
        f"sentences and a one-sided {s.polarity_test} test over its distinct sentences (a sentence counts once: all "
        f"its tokens carry its label) against the sentence prior passes Benjamini–Hochberg at α={s.alpha}; concepts "
        f"of ≥{s.min_concept_size} occurrences. Most significant polar concepts of B at layer "
        f"{info.get('trigger_layer')}:</p>"
        f"{_table(top_polar)}"
        f"<h3>K sweep</h3><p>The same Ward trees cut at every K: alignment excess over chance at θ={s.theta}, AMI, ARI "
        f"and polar concepts per model and label source.</p>{_table(result.k_sweep)}"
        f"<h3>Adversarial triggers (layer {info.get('trigger_layer')}, {s.trigger_source} labels)</h3>"
        f"<p>{s.n_insert} words from a set inserted ({s.position}) into correctly classified validation inputs of the "
        "other classes; mean over target classes. 'polar': words of concepts polar to the target; 'random': "
        "random corpus words; 'frequency': words of the same corpus-frequency band (both without polar words). "
        "Per target class below: 95 % percentile bootstrap intervals over the attacked inputs (_lo, _hi).</p>"
        f"{_table(trig_mean)}<h4>Trigger words</h4>{_table(words)}<h4>Per target class</h4>{_table(trig)}"
        "</section>"
    )


def render_html(result: ConceptsResult) -> str:
    """A standalone HTML page holding :func:`render_section`."""
    return _page(render_section(result))


def _page(section: str) -> str:
    from ...report.sections import standalone_page

    return standalone_page("latentatlas concepts", section,
                           "table{border-collapse:collapse;font-size:85%} td,th{padding:2px 6px;text-align:right}")


def write_concepts(
    result: ConceptsResult, out_dir: str | Path, *, report_dir: str | Path | None = None
) -> dict[str, Path]:
    """Render everything first, then write the CSV tables, ``concepts.json``, ``words.txt`` and
    ``concepts.html`` atomically; with ``report_dir`` (a study output folder) also add the section to its
    report (:mod:`latentatlas.report.sections`)."""
    from ...io import atomic_write_json, atomic_write_text
    from ...report.sections import attach_section, report_page

    if report_dir is not None:
        report_page(report_dir)

    section = render_section(result)  # its figures are rendered once, for the page and the report
    texts = {
        "alignment.csv": result.alignment.to_csv(index=False),
        "labels.csv": result.labels.to_csv(index=False),
        "polarity.csv": result.polarity.to_csv(index=False),
        "polarity_summary.csv": result.polarity_summary.to_csv(index=False),
        "triggers.csv": result.triggers.to_csv(index=False),
        "k_sweep.csv": result.k_sweep.to_csv(index=False),
        "words.txt": result.words_text,
        "concepts.html": _page(section),
    }
    payload = result.to_json()
    out = Path(out_dir)
    files = {name: atomic_write_text(out / name, text) for name, text in texts.items()}
    files["concepts.json"] = atomic_write_json(out / "concepts.json", payload)
    if report_dir is not None:
        files.update(attach_section(report_dir, "concepts", section))
    return files


__all__ = [
    "ConceptSettings",
    "ConceptsResult",
    "analysis_sentences",
    "figures",
    "k_sweep_table",
    "label_table",
    "read_label_file",
    "render_html",
    "render_section",
    "resolve_k",
    "run_concepts",
    "trigger_table",
    "words_text",
    "write_concepts",
]
