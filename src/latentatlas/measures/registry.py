"""The measure registry: every geometry measure, by name, with its family and reference.

A measure is a pure function ``f(X, *, seed=0, **params) -> float | dict[str, float]`` where ``X`` is
an ``(n_points, n_dims)`` array or a :class:`~latentatlas.measures.cloud.PointCloud` (the battery
passes one PointCloud to every measure so shared work is done once). Modules register their measures
with the :func:`measure` decorator; :func:`get` looks one up with close-name suggestions.
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
from .cloud import PointCloud, as_cloud

log = logging.getLogger(__name__)

MeasureValue = float | dict[str, float]
MeasureFn = Callable[..., MeasureValue]


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
        stochastic: whether the result depends on ``seed``.
    """

    name: str
    func: MeasureFn
    family: str
    reference: str
    higher_means_spread: bool | None
    min_points: int | Callable[[Mapping[str, Any]], int] = 2
    defaults: Mapping[str, Any] = field(default_factory=dict)
    stochastic: bool = False

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.func) or ""
        return doc.strip().splitlines()[0] if doc else ""

    def required_points(self, params: Mapping[str, Any] | None = None) -> int:
        merged = {**self.defaults, **(params or {})}
        return int(self.min_points(merged) if callable(self.min_points) else self.min_points)

    def __call__(self, X: Any, *, seed: int = 0, **params: Any) -> MeasureValue:
        return compute(self.name, X, seed=seed, **params)


_REGISTRY: dict[str, MeasureSpec] = {}


def measure(
    name: str,
    *,
    family: str,
    reference: str,
    higher_means_spread: bool | None,
    min_points: int | Callable[[Mapping[str, Any]], int] = 2,
) -> Callable[[MeasureFn], MeasureFn]:
    """Decorator registering ``func`` under ``name``. The function itself is returned unchanged."""

    def deco(func: MeasureFn) -> MeasureFn:
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            raise ValueError(f"measure {name!r} registered twice")
        sig = inspect.signature(func)
        defaults = {
            p.name: p.default
            for p in sig.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
        }
        stochastic = "seed" in sig.parameters
        _REGISTRY[name] = MeasureSpec(
            name=name,
            func=func,
            family=family,
            reference=reference,
            higher_means_spread=higher_means_spread,
            min_points=min_points,
            defaults={k: v for k, v in defaults.items() if k != "seed"},
            stochastic=stochastic,
        )
        return func

    return deco


def _load_builtin() -> None:
    # Importing the family modules registers their measures.
    from . import quantization, spread  # noqa: F401

    for optional in ("dimension", "similarity", "topology"):
        try:
            __import__(f"{__package__}.{optional}")
        except ModuleNotFoundError as exc:  # a family not yet present in this version
            if exc.name != f"{__package__}.{optional}":
                raise


def all_measures() -> dict[str, MeasureSpec]:
    """All registered measures by name (built-in families loaded on first call)."""
    _load_builtin()
    return dict(_REGISTRY)


def get(name: str) -> MeasureSpec:
    """The spec for ``name``; raises :class:`UnknownNameError` with close names if unknown."""
    reg = all_measures()
    try:
        return reg[name]
    except KeyError:
        raise UnknownNameError(
            "measure", name, reg, hint="Run `latentatlas measures` to list them."
        ) from None


def names(family: str | None = None, *, cloud_measures_only: bool = True) -> list[str]:
    """Registered names, optionally of one family; by default only single-cloud measures."""
    return [
        s.name
        for s in all_measures().values()
        if (family is None or s.family == family)
        and not (cloud_measures_only and s.family == "similarity")
    ]


def compute(name: str, X: Any, *, seed: int = 0, **params: Any) -> MeasureValue:
    """Validate ``X`` (if needed), check the point count and parameters, and run measure ``name``."""
    spec = get(name)
    if spec.family == "similarity":
        raise BadInputError(
            f"{name!r} compares two clouds; call latentatlas.measures.similarity.similarity({name!r}, X, Y) "
            "or `latentatlas compare`."
        )
    unknown = set(params) - set(spec.defaults)
    if unknown:
        raise BadInputError(
            f"measure {name!r} has no parameter(s) {sorted(unknown)}; "
            f"it takes {sorted(spec.defaults) or 'none'}."
        )
    cloud = as_cloud(X)
    cloud.require(f"measure {name!r}", spec.required_points(params))
    kwargs = dict(params)
    if spec.stochastic:
        kwargs["seed"] = seed
    return spec.func(cloud, **kwargs)


def flatten(results: Mapping[str, MeasureValue]) -> dict[str, float]:
    """Flatten dict-valued results to ``name.key`` entries."""
    out: dict[str, float] = {}
    for name, value in results.items():
        if isinstance(value, Mapping):
            for key, v in value.items():
                out[f"{name}.{key}"] = float(v)
        else:
            out[name] = float(value)
    return out


def run_battery(
    X: Any,
    measures: Iterable[str] | None = None,
    *,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
    progress: bool = False,
) -> dict[str, MeasureValue]:
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
    specs = [get(n) for n in wanted]  # fail on unknown names before any work
    cloud = as_cloud(X)
    params = params or {}
    for s in specs:
        cloud.require(f"measure {s.name!r}", s.required_points(params.get(s.name)))
    out: dict[str, MeasureValue] = {}
    iterator: Iterable[MeasureSpec] = specs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(specs, desc="measures", unit="measure", leave=False)
    for spec in iterator:
        t0 = time.perf_counter()
        value = compute(spec.name, cloud, seed=seed, **dict(params.get(spec.name, {})))
        if isinstance(value, Mapping):
            value = {k: float(v) for k, v in value.items()}
        else:
            value = float(value)
        out[spec.name] = value
        dt = time.perf_counter() - t0
        if timings is not None:
            timings[spec.name] = dt
        log.debug("measure %s = %s (%.3fs)", spec.name, value, dt)
    return out


def is_finite(value: MeasureValue) -> bool:
    if isinstance(value, Mapping):
        return all(math.isfinite(v) for v in value.values())
    return math.isfinite(value)


__all__ = [
    "MeasureSpec",
    "MeasureValue",
    "PointCloud",
    "all_measures",
    "compute",
    "flatten",
    "get",
    "measure",
    "names",
    "run_battery",
]
