"""Stage 1: the study's sentences (the bundled BBC sample or the user's file, filtered and sampled)."""

from __future__ import annotations

import logging

from ..corpus import Corpus, load_corpus_spec
from ..settings import CorpusSpec

log = logging.getLogger(__name__)


def study_corpus(spec: CorpusSpec) -> Corpus:
    """The corpus stage: the corpus a :class:`~latentatlas.settings.CorpusSpec` names
    (:func:`latentatlas.corpus.load_corpus_spec`)."""
    corpus = load_corpus_spec(spec)
    log.info("corpus: %d sentences (%s)", len(corpus), corpus.source)
    return corpus


__all__ = ["study_corpus"]
