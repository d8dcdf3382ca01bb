"""``latentatlas topology``: does adding local topology features to frozen LM vectors help a token tagger?
(Ruppik et al. 2024; the features themselves are :mod:`latentatlas.measures.topology`)."""

from .run import TaggingResult, paired_difference, paired_sentence, run_tagging, write_tagging

__all__ = ["TaggingResult", "paired_difference", "paired_sentence", "run_tagging", "write_tagging"]
