"""The HTML report: per-layer profiles of every measure for every model, figures embedded as PNG."""

from __future__ import annotations

import base64
import html
import logging
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from ..measures import registry as reg
from . import figures

log = logging.getLogger(__name__)


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("latentatlas", "report/templates"),
        autoescape=select_autoescape(["html"]),
    )


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def render_report(df: pd.DataFrame, manifest: dict[str, Any]) -> str:
    """Render the report page as a string."""
    sections = []
    for family, fam_df in df.groupby("family", sort=False):
        plots = []
        for measure in fam_df["measure"].unique():
            base = measure.split(".", 1)[0]
            spec = reg.get(base)
            plots.append(
                {
                    "measure": measure,
                    "summary": spec.summary,
                    "reference": spec.reference,
                    "png": _b64(figures.layer_profile(fam_df, measure)),
                }
            )
        sections.append({"family": family, "plots": plots})
    last = df.loc[df.groupby("spec")["layer"].transform("max") == df["layer"]]
    table = last.pivot_table(index="measure", columns="spec", values="value", sort=False)
    table_html = table.to_html(
        float_format=lambda v: f"{v:.4g}", classes="results", border=0, na_rep="–"
    )
    return _env().get_template("report.html").render(
        manifest=manifest,
        sections=sections,
        last_layer_table=table_html,
        n_rows=len(df),
        n_models=df["spec"].nunique(),
        n_layers=df["layer"].nunique(),
        n_measures=df["measure"].nunique(),
        escape=html.escape,
    )


