"""Concept labels: which human-defined label a concept (a set of word occurrences) stands for.

Rule (ConceptX ``align_autotags``; Durrani et al. 2022, Mousi et al. 2023): a concept C is aligned to its
most frequent label ℓ* when

    purity(C) = count_C(ℓ*) / |C| > θ        (default θ = 0.9; strict, see :func:`exceeds`)

and ℓ* is not UNK. UNK accounting is explicit: occurrences without a label (no aligned spaCy word, or a
non-informative value such as NE ``O`` or "no listed suffix") are ``UNK``; they stay in the denominator
unless ``ignore_unk``; a concept whose UNK fraction exceeds ``max_unk`` (0.4, as ConceptX) is reported as
``mostly_unk``; concepts smaller than ``min_size`` are ``too_small``. Each concept gets one status, so
the counts add up to K.

Label sets (a registry, :data:`LABEL_SETS`): spaCy ``pos`` (UPOS, coarse), ``tag`` (PTB, fine),
``ner`` (entity type), ``dep`` (dependency relation) from :func:`latentatlas.annotate.annotate`, and the
lexical ``casing``, ``prefix``, ``suffix``, ``first_word``, ``last_word`` (ConceptX's trivial labels;
casing uses LC/UC/TC/MC consistently, fixing ConceptX's UP/UC mismatch).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...errors import BadInputError
from ...registry import Registry

log = logging.getLogger(__name__)

UNK = "UNK"
DEFAULT_THETA = 0.9


def exceeds(share: np.ndarray | float, theta: float) -> np.ndarray:
    """The one θ comparison of :mod:`latentatlas.analyses.concepts`: a share passes θ when it is *strictly*
    greater, share > θ (as ConceptX's ``align_autotags`` and ``alignClusters.py`` compare).

    Label alignment (purity), model-to-model alignment (overlap) and polar concepts (purity against
    ``min_purity``) all call this function.
    """
    return np.asarray(share) > theta

#: common English derivational/inflectional affixes (longest match wins)
PREFIXES: tuple[str, ...] = (
    "anti", "auto", "counter", "dis", "down", "extra", "hyper", "il", "im", "in", "inter", "ir", "mega",
    "micro", "mid", "mis", "multi", "non", "out", "over", "post", "pre", "pro", "re", "semi", "sub",
    "super", "tele", "trans", "ultra", "un", "under", "up",
)
SUFFIXES: tuple[str, ...] = (
    "able", "ably", "al", "ally", "ance", "ant", "ary", "ate", "ation", "ed", "ence", "ent", "er", "ers",
    "es", "est", "ful", "hood", "ial", "ible", "ic", "ical", "ies", "ify", "ing", "ion", "ise", "ish",
    "ism", "ist", "ity", "ive", "ize", "less", "ly", "ment", "ness", "or", "ous", "s", "ship", "tion",
    "ward", "wise",
)


def casing(word: str) -> str:
    """LC (all lower), UC (all upper, ≥ 2 letters or one upper letter), TC (Title), MC (mixed); UNK
    without letters."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return UNK
    if all(c.islower() for c in letters):
        return "LC"
    if all(c.isupper() for c in letters):
        return "UC"
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return "TC"
    return "MC"


def affix(word: str, affixes: Sequence[str], *, suffix: bool, min_stem: int = 3) -> str:
    """The longest listed affix of ``word`` (lower-cased) leaving a stem of ≥ ``min_stem`` letters, else UNK."""
    w = word.lower()
    best = ""
    for a in affixes:
        if len(a) > len(best) and len(w) - len(a) >= min_stem and (w.endswith(a) if suffix else w.startswith(a)):
            best = a
    return best if best else UNK


def _spacy_label(field: str, transform: Callable[[str], str] = lambda v: v) -> Callable[..., list[str]]:
    def get(ann: Any, word_index: int, **_: Any) -> str:
        values = getattr(ann, field)
        if word_index < 0 or not values:
            return UNK
        return transform(values[word_index])

    return get  # type: ignore[return-value]


def _entity(v: str) -> str:
    return UNK if v == "O" else v.split("-", 1)[1]


#: label set -> f(annotation, spaCy word index, text=word text, first=bool, last=bool) -> label
LABEL_SETS: Registry[Callable[..., str]] = Registry.of("label set", {
    "pos": _spacy_label("pos"),
    "tag": _spacy_label("tag"),
    "ner": _spacy_label("ent_bio", _entity),
    "dep": _spacy_label("dep"),
    "casing": lambda ann, i, *, text, first, last: casing(text),
    "prefix": lambda ann, i, *, text, first, last: affix(text, PREFIXES, suffix=False),
    "suffix": lambda ann, i, *, text, first, last: affix(text, SUFFIXES, suffix=True),
    "first_word": lambda ann, i, *, text, first, last: "FIRST" if first else UNK,
    "last_word": lambda ann, i, *, text, first, last: "LAST" if last else UNK,
})
#: the annotation layers each spaCy label set needs
ANNOTATION_LAYERS = {"pos": "pos", "tag": "tag", "ner": "ner", "dep": "dep"}


def word_spans(tokenizer: Any, sentences: Sequence[str], max_length: int = 128) -> pd.DataFrame:
    """Character span of every model word: DataFrame[sentence_id, word_id, start, end] (fast tokenizer)."""
    if not getattr(tokenizer, "is_fast", False):
        raise BadInputError("word spans need a fast (Rust) tokenizer; load the model's tokenizer with use_fast=True.")
    enc = tokenizer(list(sentences), truncation=True, max_length=max_length, return_offsets_mapping=True)
    rows: list[tuple[int, int, int, int]] = []
    for i, offsets in enumerate(enc["offset_mapping"]):
        spans: dict[int, list[int]] = {}
        for w, (a, b) in zip(enc.word_ids(i), offsets):
            if w is None:
                continue
            span = spans.setdefault(w, [a, b])
            span[0], span[1] = min(span[0], a), max(span[1], b)
        rows.extend((i, w, a, b) for w, (a, b) in spans.items())
    return pd.DataFrame(rows, columns=["sentence_id", "word_id", "start", "end"])


def occurrence_labels(
    occurrences: pd.DataFrame,
    sentences: Sequence[str],
    spans: pd.DataFrame,
    annotations: Sequence[Any] | None = None,
    sets: Sequence[str] = tuple(LABEL_SETS),
) -> pd.DataFrame:
    """One label column per label set for every occurrence (rows in the order of ``occurrences``).

    ``spans`` comes from :func:`word_spans` with the model's tokenizer; ``annotations`` from
    :func:`latentatlas.annotate.annotate` over the same ``sentences`` (needed for pos/tag/ner/dep). A
    model word takes the label of the spaCy word containing its first character; first/last word refer
    to the model's words of the sentence.
    """
    for name in sets:  # every name checked before any work
        LABEL_SETS[name]
    needs_spacy = [s for s in sets if s in ANNOTATION_LAYERS]
    if needs_spacy and (annotations is None or len(annotations) != len(sentences)):
        raise BadInputError(
            f"label sets {needs_spacy} need one annotation per sentence ({len(sentences)}), got "
            f"{None if annotations is None else len(annotations)}; annotate the same sentences with "
            "latentatlas.annotate.annotate."
        )
    keys = ["sentence_id", "word_id"]
    occ = occurrences[keys].astype(np.int64)
    sp = spans.astype({"sentence_id": np.int64, "word_id": np.int64})
    last_word = sp.groupby("sentence_id")["word_id"].max().rename("last_id").reset_index()
    table = occ.merge(sp, on=keys, how="left").merge(last_word, on="sentence_id", how="left")
    if table["start"].isna().any() or int(occ["sentence_id"].to_numpy().max(initial=-1)) >= len(sentences):
        raise BadInputError(
            "some occurrences have no word span: the occurrences and spans come from different sentences "
            "or tokenizers; build both from the same corpus and model."
        )
    out: dict[str, list[str]] = {s: [] for s in sets}
    from ...annotate import align_to_tokens

    for sid, wid, a, b, last_id in table[["sentence_id", "word_id", "start", "end", "last_id"]].itertuples(index=False):
        sid, a, b = int(sid), int(a), int(b)
        text = sentences[sid][a:b]
        ann = annotations[sid] if annotations is not None else None
        idx = align_to_tokens(ann, [(a, b)])[0] if ann is not None else -1
        for s in sets:
            out[s].append(LABEL_SETS[s](ann, idx, text=text, first=int(wid) == 0, last=int(wid) == int(last_id)))
    return pd.DataFrame(out)


def label_alignment(
    concepts: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    *,
    theta: float = DEFAULT_THETA,
    min_size: int = 5,
    max_unk: float = 0.4,
    ignore_unk: bool = False,
    unk: str = UNK,
) -> pd.DataFrame:
    """Per concept: size, top label ℓ*, purity, UNK fraction, status, aligned (purity > θ, ℓ* ≠ UNK).

    Status is ``too_small`` (size < min_size), ``mostly_unk`` (UNK fraction > max_unk), ``aligned``, or
    ``impure``. With ``ignore_unk`` the purity is count(ℓ*) / (|C| − #UNK).
    """
    concepts = np.asarray(concepts)
    labels = np.asarray(labels, dtype=object)
    if concepts.shape != labels.shape:
        raise BadInputError(
            f"{labels.size} labels for {concepts.size} occurrences; the label file does not line up with the "
            "clustered tokens: label exactly the sampled occurrences, in the same order."
        )
    if not 0.0 <= theta <= 1.0:
        raise BadInputError(f"theta={theta} must lie in [0, 1].")
    cid, cinv = np.unique(concepts, return_inverse=True)
    names, linv = np.unique(labels.astype(str), return_inverse=True)
    M = np.zeros((cid.size, names.size), dtype=np.int64)
    np.add.at(M, (cinv.ravel(), linv.ravel()), 1)
    size = M.sum(1)
    is_unk = names == unk
    n_unk = M[:, is_unk].sum(1) if is_unk.any() else np.zeros(cid.size, dtype=np.int64)
    known = M.copy()
    known[:, is_unk] = -1
    top = np.argmax(known, axis=1)
    top_count = np.maximum(known[np.arange(cid.size), top], 0)
    denom = size - n_unk if ignore_unk else size
    purity = np.divide(top_count, denom, out=np.zeros(cid.size), where=denom > 0)
    unk_frac = n_unk / np.maximum(size, 1)
    status = np.where(
        size < min_size, "too_small",
        np.where(unk_frac > max_unk, "mostly_unk", np.where(exceeds(purity, theta), "aligned", "impure")),
    )
    return pd.DataFrame({
        "concept": cid, "size": size, "top_label": np.where(top_count > 0, names[top], unk),
        "purity": purity, "unk_fraction": unk_frac, "status": status, "aligned": status == "aligned",
    })


def theta_sweep(
    concepts: np.ndarray, labels: Sequence[str] | np.ndarray, thetas: Sequence[float] | None = None, **kw: Any
) -> pd.DataFrame:
    """Aligned fraction of concepts and labels covered as θ varies (one contingency, many thresholds)."""
    thetas = np.round(np.arange(0.5, 1.0001, 0.05), 4) if thetas is None else np.asarray(thetas)
    base = label_alignment(concepts, labels, theta=0.0, **kw)
    eligible = base["status"].isin(["aligned", "impure"]).to_numpy()
    n_labels = len(set(np.asarray(labels, dtype=str)) - {kw.get("unk", UNK)})
    rows = []
    for t in thetas:
        ok = eligible & exceeds(base["purity"].to_numpy(), float(t))
        rows.append({
            "theta": float(t), "n_aligned": int(ok.sum()), "fraction_aligned": float(ok.mean()),
            "labels_covered": int(base.loc[ok, "top_label"].nunique()), "n_labels": n_labels,
        })
    return pd.DataFrame(rows)
