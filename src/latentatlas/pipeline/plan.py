"""The study's plan: a :class:`~latentatlas.settings.Study` checked against every registry before any work.

:func:`load_study` reads the YAML and checks it; the helpers resolve what the stages need (measure
entries, tasks, held-out specs, families) with close-name suggestions for every unknown name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..downstream.tasks import get_task
from ..errors import BadInputError
from ..layers import check_selection
from ..measures import registry as reg
from ..models import ModelSpec, check_spec_folders
from ..models.load import hidden_size
from ..models.spec import base_kind
from ..pretrain.zoo import is_zoo, zoo_family
from ..settings import MeasureEntry, Study, TaskEntry, read_study


def measure_entries(study: Study) -> list[MeasureEntry]:
    """The measures to run, names and parameters checked against the registry (close names suggested)."""
    if study.measures == "all":
        return [MeasureEntry(name=n) for n in reg.names()]
    entries = [m if isinstance(m, MeasureEntry) else MeasureEntry(name=m) for m in study.measures]
    for e in entries:
        reg.cloud_measure(e.name).check_params(e.params)
    return entries


def check_widths(entries: list[MeasureEntry], specs: list[ModelSpec]) -> None:
    """Measure parameters that depend on the width d of the hidden states, checked against every model's
    width (read from its config) before any extraction: a product quantizer (``pq_*``) splits the d
    dimensions into M equal blocks, so M must divide d. Models whose width is unknown before loading
    (hub names) are checked when measured."""
    pq = [(e, reg.get(e.name)) for e in entries if e.name.startswith("pq_")]
    if not pq:
        return
    for spec in specs:
        d = hidden_size(spec)
        if d is None:
            continue
        for e, m in pq:
            M = int(m.check_params(e.params).get("M", m.defaults["M"]))
            if d % M:
                raise BadInputError(
                    f"measure {e.name!r}: M={M} does not divide the width {d} of model {str(spec)!r} (a product "
                    f"quantizer splits the dimensions into M equal blocks); choose M among the divisors of {d}."
                )


def task_entries(study: Study) -> list[TaskEntry]:
    """The downstream tasks, names checked against the task registry (close names suggested)."""
    entries = [t if isinstance(t, TaskEntry) else TaskEntry(name=t) for t in study.tasks]
    for t in entries:
        get_task(t.name)
    names = [t.name for t in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInputError(f"study lists task(s) {dupes} twice; list each task once.")
    return entries


def model_specs(study: Study) -> list[ModelSpec]:
    """The study's models, parsed and validated without loading: each spec once after normalisation
    (``@perturb(seed=0,alpha=10)`` is ``@perturb(alpha=10,seed=0)``; a folder named two ways is one
    folder), each local folder's files checked (:func:`~latentatlas.models.check_spec_folders`)."""
    specs = [ModelSpec.parse(m) for m in study.models]
    seen: dict[str, str] = {}
    for text, spec in zip(study.models, specs, strict=True):
        key = _identity(spec)
        if key in seen:
            raise BadInputError(
                f"models {seen[key]!r} and {text!r} are the same model ({str(spec)!r}); list it once."
            )
        seen[key] = text
    for spec in specs:
        check_spec_folders(spec)
    return specs


def _identity(spec: ModelSpec) -> str:
    """The normal form of a spec with a folder base written as its resolved path."""
    if base_kind(spec.base) == "dir":
        spec = ModelSpec(base=str(Path(spec.base).expanduser().resolve()), variant=spec.variant, params=spec.params)
    return str(spec)


def holdout_specs(study: Study) -> set[str]:
    """Normalised specs of the held-out models; each must be one of the study's models."""
    models = {str(s) for s in model_specs(study)}
    held = {str(ModelSpec.parse(m)) for m in study.analysis.holdout}
    stray = sorted(held - models)
    if stray:
        raise BadInputError(
            f"analysis.holdout names {stray}, which are not among the study's models; "
            "add them to `models` or remove them from the holdout list."
        )
    return held


def family_of(study: Study, spec: str) -> str:
    """The family (architecture) of a model for the ``score ~ measure + family`` fit: given in
    ``analysis.families`` or, by default, the base model's name; a ``zoo:`` base's family is its
    architecture (:func:`~latentatlas.pretrain.zoo.zoo_family`: ``zoo`` for the default one), so the
    checkpoints, seeds and objectives of the miniature zoo are one family, not one family each."""
    families = {str(ModelSpec.parse(k)): v for k, v in study.analysis.families.items()}
    parsed = ModelSpec.parse(spec)
    default = zoo_family(parsed.base) if is_zoo(parsed.base) else parsed.base
    return families.get(str(parsed), default)


@dataclass(frozen=True)
class StudyPlan:
    """What a study runs, every name checked: the measure entries, the model specs in study order (each
    once) and the normalised specs of the held-out models."""

    entries: list[MeasureEntry]
    specs: list[ModelSpec]
    holdout: set[str]


def plan_study(study: Study) -> StudyPlan:
    """The plan stage: measures, models and held-out models of ``study`` checked (names against the
    registries, folders on disk, product-quantizer blocks against every model's width) before any work."""
    entries, specs, holdout = measure_entries(study), model_specs(study), holdout_specs(study)
    check_widths(entries, specs)
    return StudyPlan(entries, specs, holdout)


def check_study(study: Study) -> Study:
    """Check every registry name (and the form of the layer selection) of ``study`` now, so a bad study
    fails before any work."""
    check_selection(study.layers)
    entries = measure_entries(study)
    task_entries(study)
    check_widths(entries, model_specs(study))
    holdout_specs(study)
    return study


def load_study(path: str | Path | None = None, *, preset: str = "default") -> Study:
    """Read a study file (or a built-in preset) and check it completely."""
    return check_study(read_study(path, preset=preset))


__all__ = ["StudyPlan", "check_study", "check_widths", "family_of", "holdout_specs", "load_study", "measure_entries",
           "model_specs", "plan_study", "task_entries"]
