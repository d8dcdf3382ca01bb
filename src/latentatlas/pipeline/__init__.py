"""The study pipeline: a :class:`~latentatlas.settings.Study` in, results tables and a report out.

Stages, each a function in its module: :func:`.plan.plan_study` (check the study),
:func:`.corpus.study_corpus`, :func:`.extract.extract_model` (a model's activation stores),
:class:`.downstream.StudyScores` (task scores), :func:`.measure.measure_study` (the measure grid as the
tidy :mod:`.results` table), :func:`.analyse.analyse_study`, :func:`.report.report_study`; :mod:`.run`
strings them together.
"""

from .extract import extract_study
from .plan import load_study
from .run import RunResult, run_study

__all__ = ["RunResult", "extract_study", "load_study", "run_study"]
