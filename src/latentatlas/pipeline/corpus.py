"""Stage 1: the study's sentences (the bundled BBC sample or the user's file, filtered and sampled)."""

from __future__ import annotations

from ..corpus import Corpus, load_corpus_spec
from ..settings import CorpusSpec


def study_corpus(spec: CorpusSpec) -> Corpus:
    """The corpus a :class:`~latentatlas.settings.CorpusSpec` names (:func:`latentatlas.corpus.load_corpus_spec`)."""
    return load_corpus_spec(spec)


__all__ = ["study_corpus"]
