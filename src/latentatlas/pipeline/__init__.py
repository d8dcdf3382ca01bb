"""The study pipeline: a :class:`~latentatlas.settings.Study` in, results tables and a report out.

Stages, each a module: :mod:`.plan` (check the study), :mod:`.corpus`, :mod:`.extract` (models and
activation stores), :mod:`.downstream` (task scores), :mod:`.measure` (the measure grid), :mod:`.results`
(the tidy table), :mod:`.analyse`, :mod:`.report`; :mod:`.run` strings them together.
"""

from .extract import extract_study
from .plan import load_study
from .run import RunResult, run_study

__all__ = ["RunResult", "extract_study", "load_study", "run_study"]
