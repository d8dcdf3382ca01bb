"""The measure registries: every geometry measure, by name, with what a caller needs to know as data.

A measure is a pure function ``f(X, *, seed=0, **params) -> float`` where ``X`` is an
``(n_points, n_dims)`` array or a :class:`~latentatlas.measures.cloud.PointCloud` (the battery passes one
PointCloud to every measure so shared work is done once). Family modules register their measures with
the :func:`measure` decorator, stating as data: the family, the reference, the direction
(``higher_means_spread``), the fewest points, whether it streams, and the constraints of every parameter
(:class:`Param`, checked in one place, :meth:`MeasureSpec.check_params`, before any work).

Single-cloud measures live in :data:`MEASURES`; two-cloud similarity measures in :data:`SIMILARITY`
(:mod:`latentatlas.measures.similarity`). This module imports no family: importing the
``latentatlas.measures`` package registers them all.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadInputError, UnknownNameError
from ..registry import Registry
from .cloud import PointCloud, as_cloud

log = logging.getLogger(__name__)

MeasureValue = float
MeasureFn = Callable[..., float]


@dataclass(frozen=True)
class Param:
    """The allowed values of one measure parameter.

    Attributes:
        kind: ``int``, ``float``, ``bool`` or ``str``.
        low, high: inclusive bounds (numbers), None for unbounded.
        choices: the allowed values (strings), None for any.
        none_ok: whether ``None`` is allowed (e.g. "use all points").
    """

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    none_ok: bool = False

    def describe(self) -> str:
        """The allowed values in words, e.g. ``integer ≥ 2`` or ``one of 'exact', 'sampled'``."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            text = {int: "integer", float: "number", bool: "true or false", str: "text"}[self.kind]
            if self.low is not None and self.high is not None:
                text += f" in [{_num(self.low)}, {_num(self.high)}]"
            elif self.low is not None:
                text += f" ≥ {_num(self.low)}"
            elif self.high is not None:
                text += f" ≤ {_num(self.high)}"
        return text + (" or null" if self.none_ok else "")

    def check(self, where: str, value: Any) -> Any:
        """``value`` coerced to :attr:`kind`, or a one-line BadInputError naming ``where`` and the fix."""
        if value is None and self.none_ok:
            return None
        fail = BadInputError(f"{where}={value!r} is not allowed: it must be {self.describe()}.")
        if self.kind is bool:
            if not isinstance(value, bool):
                raise fail
            return value
        if self.kind is str:
            if not isinstance(value, str) or (self.choices is not None and value not in self.choices):
                raise fail
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail
        if self.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise fail
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise fail
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise fail
        return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def Int(low: int | None = None, high: int | None = None, *, none_ok: bool = False) -> Param:  # noqa: N802
    """An integer parameter in [low, high]."""
    return Param(int, low, high, none_ok=none_ok)


def Real(low: float | None = None, high: float | None = None) -> Param:  # noqa: N802
    """A finite number in [low, high]."""
    return Param(float, low, high)


def Choice(*values: str) -> Param:  # noqa: N802
    """One of the given strings."""
    return Param(str, choices=values)


def _inferred(default: Any) -> Param:
    """The constraint of an undeclared parameter: the type of its default."""
    if default is None:
        return Param(int, none_ok=True)
    return Param(type(default) if isinstance(default, (bool, int, float, str)) else str)


@dataclass(frozen=True)
class MeasureSpec:
    """A registered measure.

    Attributes:
        name: registry name (papers' abbreviations, e.g. ``eee``, ``aq_pp``).
        func: the pure function.
        family: ``spread``, ``quantization``, ``dimension``, ``similarity``, ...
        reference: paper and equation the formula comes from.
        higher_means_spread: True if larger values mean a more spread / isotropic cloud, False if the
            opposite, None where the notion does not apply.
        min_points: fewest points the measure accepts, or a callable of the measure's params.
        defaults: the function's keyword defaults (the parameters a study may override).
        params: the declared constraints of every parameter.
        stochastic: whether the result depends on ``seed``.
        streamable: whether :func:`latentatlas.measures.stream.stream_battery` computes it exactly
            without loading the cloud (a function of the mean, the covariance spectrum or row sums).
        source: the package that computes it (``latentatlas``, or e.g. ``scikit-dimension``).
    """

    name: str
    func: MeasureFn
    family: str
    reference: str
    higher_means_spread: bool | None
    min_points: int | Callable[[Mapping[str, Any]], int] = 2
    defaults: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Param] = field(default_factory=dict)
    stochastic: bool = False
    streamable: bool = False
    source: str = "latentatlas"

    @property
    def doc(self) -> str:
        """The function's docstring: the formula and its notes."""
        return inspect.getdoc(self.func) or ""

    @property
    def summary(self) -> str:
        """The docstring's first paragraph on one line (the formula in words)."""
        return " ".join(self.doc.split("\n\n", 1)[0].split())

    def required_points(self, params: Mapping[str, Any] | None = None) -> int:
        merged = {**self.defaults, **(params or {})}
        return int(self.min_points(merged) if callable(self.min_points) else self.min_points)

    def check_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """``params`` validated against the declared constraints (unknown names, types, ranges)."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise BadInputError(
                f"measure {self.name!r} has no parameter(s) {unknown}; it takes {sorted(self.defaults) or 'none'}."
            )
        return {k: self.params[k].check(f"{self.name}.{k}", v) for k, v in params.items()}


MEASURES: Registry[MeasureSpec] = Registry("measure", hint="Run `latentatlas measures` to list them.")
SIMILARITY: Registry[MeasureSpec] = Registry("similarity measure", hint="Run `latentatlas measures --family similarity`.")


def measure(
    name: str,
    *,
    family: str,
    reference: str,
    higher_means_spread: bool | None,
    min_points: int | Callable[[Mapping[str, Any]], int] = 2,
    params: Mapping[str, Param] | None = None,
    streamable: bool = False,
    registry: Registry[MeasureSpec] = MEASURES,
    source: str = "latentatlas",
) -> Callable[[MeasureFn], MeasureFn]:
    """Decorator registering ``func`` under ``name``; the function itself is returned unchanged.

    ``params`` declares the constraints of the function's keyword parameters; an undeclared one may take
    any value of its default's type.
    """

    def deco(func: MeasureFn) -> MeasureFn:
        sig = inspect.signature(func)
        defaults = {
            p.name: p.default
            for p in sig.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty and p.name != "seed"
        }
        declared = dict(params or {})
        stray = sorted(set(declared) - set(defaults))
        if stray:
            raise ValueError(f"measure {name!r} declares constraints for parameters it does not take: {stray}")
        registry.register(name, MeasureSpec(
            name=name, func=func, family=family, reference=reference, higher_means_spread=higher_means_spread,
            min_points=min_points, defaults=defaults,
            params={k: declared.get(k, _inferred(v)) for k, v in defaults.items()},
            stochastic="seed" in sig.parameters, streamable=streamable, source=source,
        ))
        return func

    return deco


def all_measures() -> dict[str, MeasureSpec]:
    """Every registered measure by name, single-cloud and similarity."""
    return {**MEASURES, **SIMILARITY}


def get(name: str) -> MeasureSpec:
    """The spec for ``name``; raises :class:`UnknownNameError` with close names if unknown."""
    if name in SIMILARITY:
        return SIMILARITY[name]
    try:
        return MEASURES[name]
    except UnknownNameError:
        raise UnknownNameError("measure", name, all_measures(), hint=MEASURES.hint) from None


def cloud_measure(name: str) -> MeasureSpec:
    """The single-cloud measure ``name`` (a similarity measure gets a message saying how to run it)."""
    if name in SIMILARITY:
        raise BadInputError(
            f"{name!r} compares two clouds; call latentatlas.measures.similarity.similarity({name!r}, X, Y) "
            "or `latentatlas compare`."
        )
    return get(name)


def names(family: str | None = None, *, cloud_measures_only: bool = True, include_external: bool = False) -> list[str]:
    """Registered names, optionally of one family; by default only single-cloud measures, and only
    latentatlas' own (what ``measures: all`` runs; measures of other packages, e.g. ``skdim_*``, are slow
    and named explicitly)."""
    specs = MEASURES.values() if cloud_measures_only else all_measures().values()
    return [s.name for s in specs
            if (family is None or s.family == family) and (include_external or s.source == "latentatlas")]


def compute(name: str, X: Any, *, seed: int = 0, **params: Any) -> float:
    """Validate ``X`` (if needed), check the point count and parameters, and run measure ``name``."""
    spec = cloud_measure(name)
    kwargs = spec.check_params(params)
    cloud = as_cloud(X)
    cloud.require(f"measure {name!r}", spec.required_points(kwargs))
    if spec.stochastic:
        kwargs["seed"] = seed
    return float(spec.func(cloud, **kwargs))


def flatten(results: Mapping[str, Any]) -> dict[str, float]:
    """Results as ``{name: float}`` (kept for callers of earlier versions, whose measures could return
    dicts; every measure now returns one number)."""
    return {name: float(value) for name, value in results.items()}


def run_battery(
    X: Any,
    measures: Iterable[str] | None = None,
    *,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Run several measures on one cloud, sharing PCA, k-NN and quantizers between them.

    Args:
        X: the cloud (array or PointCloud).
        measures: names to run; ``None`` runs every single-cloud measure in the registry.
        seed: seed handed to every stochastic measure.
        params: per-measure parameter overrides, ``{name: {param: value}}``.
        timings: if given, filled with seconds spent per measure.
        progress: show a tqdm bar.
    """
    wanted = list(measures) if measures is not None else names()
    params = params or {}
    specs = [cloud_measure(n) for n in wanted]  # fail on unknown names and bad parameters before any work
    checked = {s.name: s.check_params(params.get(s.name)) for s in specs}
    cloud = as_cloud(X)
    for s in specs:
        cloud.require(f"measure {s.name!r}", s.required_points(checked[s.name]))
    out: dict[str, float] = {}
    iterator: Iterable[MeasureSpec] = specs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(specs, desc="measures", unit="measure", leave=False)
    for spec in iterator:
        t0 = time.perf_counter()
        value = compute(spec.name, cloud, seed=seed, **checked[spec.name])
        out[spec.name] = value
        dt = time.perf_counter() - t0
        if timings is not None:
            timings[spec.name] = dt
        log.debug("measure %s = %s (%.3fs)", spec.name, value, dt)
    return out


__all__ = [
    "MEASURES",
    "SIMILARITY",
    "Choice",
    "Int",
    "MeasureSpec",
    "MeasureValue",
    "Param",
    "PointCloud",
    "Real",
    "all_measures",
    "cloud_measure",
    "compute",
    "flatten",
    "get",
    "measure",
    "names",
    "run_battery",
]
