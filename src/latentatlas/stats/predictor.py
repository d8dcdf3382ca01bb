"""A fitted ``score ~ measure`` line a user can apply to a new model, with its prediction interval.

``LinearPredictor`` holds what prediction needs and nothing else: the OLS line fitted on the training
models, the residual standard deviation, the training range of the measure, and the inputs of the
classical prediction interval for a new observation,

    ŷ ± t_{n−2, 0.975} · s · √(1 + 1/n + (x − x̄)² / Sxx),

which assumes independent training rows. With related rows (seed twins) it is optimistic, so the honest
error of the whole select-then-fit procedure, the nested leave-one-group-out MSE of the study, travels
with the predictor and is printed beside every prediction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..errors import BadInputError


@dataclass(frozen=True)
class LinearPredictor:
    """``target ≈ intercept + slope · x`` fitted on ``n`` training models.

    Attributes:
        column: the predictor column it was fitted on (``measure@layer``).
        target: the score it predicts.
        x_mean, sxx: mean of x and Σ(x − x̄)² over the training models.
        residual_sd: s = √(RSS / (n − 2)).
        x_min, x_max: the training range of x (outside it a prediction extrapolates).
    """

    column: str
    target: str
    intercept: float
    slope: float
    n: int
    x_mean: float
    sxx: float
    residual_sd: float
    x_min: float
    x_max: float

    def predict(self, x: float, level: float = 0.95) -> tuple[float, float, float]:
        """(prediction, lower, upper) of the ``level`` prediction interval at ``x``."""
        yhat = self.intercept + self.slope * x
        t = float(stats.t.ppf(0.5 + level / 2, self.n - 2))
        half = t * self.residual_sd * math.sqrt(1 + 1 / self.n + (x - self.x_mean) ** 2 / self.sxx)
        return yhat, yhat - half, yhat + half

    def extrapolates(self, x: float) -> bool:
        """Whether ``x`` lies outside the training range."""
        return not self.x_min <= x <= self.x_max

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearPredictor:
        return cls(**data)


def fit_predictor(x: Any, y: Any, *, column: str, target: str) -> LinearPredictor:
    """The OLS line of ``y`` on ``x`` (at least 3 models; x not constant)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise BadInputError(f"predictor {column!r}: x and y must be finite vectors of one length.")
    n = x.size
    if n < 3:
        raise BadInputError(f"predictor {column!r} needs at least 3 training models, got {n}.")
    xm = float(x.mean())
    sxx = float(((x - xm) ** 2).sum())
    if sxx == 0:
        raise BadInputError(f"predictor {column!r} is constant over the training models; it predicts nothing.")
    slope = float(((x - xm) * (y - y.mean())).sum() / sxx)
    intercept = float(y.mean() - slope * xm)
    resid = y - (intercept + slope * x)
    return LinearPredictor(column=column, target=target, intercept=intercept, slope=slope, n=n, x_mean=xm,
                           sxx=sxx, residual_sd=float(math.sqrt((resid @ resid) / (n - 2))),
                           x_min=float(x.min()), x_max=float(x.max()))


__all__ = ["LinearPredictor", "fit_predictor"]
