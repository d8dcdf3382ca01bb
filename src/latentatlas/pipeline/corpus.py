"""Stage 1: the study's sentences (the bundled BBC sample or the user's file, filtered and sampled)."""

from __future__ import annotations

from ..corpus import Corpus, bundled_corpus, load_corpus
from ..settings import CorpusSpec


def study_corpus(spec: CorpusSpec) -> Corpus:
    """The corpus a :class:`~latentatlas.settings.CorpusSpec` names."""
    if spec.source == "bundled":
        return bundled_corpus(spec.n_sentences, seed=spec.seed, min_words=spec.min_words, max_words=spec.max_words)
    return load_corpus(
        spec.source, text_column=spec.text_column, n_sentences=spec.n_sentences, seed=spec.seed,
        min_words=spec.min_words, max_words=spec.max_words, encoding=spec.encoding,
    )


__all__ = ["study_corpus"]
