"""HTML report and figures."""

from .html import Report, build_report, render_report

__all__ = ["Report", "build_report", "render_report"]
