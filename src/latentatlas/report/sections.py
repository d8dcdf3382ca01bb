"""Analysis sections attached to the report of a study.

``latentatlas concepts --report DIR`` and ``latentatlas anchor --report DIR`` add their section to the
report of a study output folder ``DIR`` (what ``latentatlas run`` wrote). The HTML fragment is kept as
``DIR/sections/<name>.html``, so a later ``latentatlas run`` into the same folder renders it again, and
``DIR/report.html`` is rewritten with the section in place of an earlier copy of it. The new page is
built in memory first and both files are written atomically: a failure leaves the old report whole.

In the page each section sits between ``<!-- latentatlas:section NAME -->`` and
``<!-- /latentatlas:section NAME -->``, before the :data:`SLOT` marker that the report template emits.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..errors import BadInputError

log = logging.getLogger(__name__)

SECTIONS_DIR = "sections"
SLOT = "<!-- latentatlas:extra-sections -->"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"section name {name!r} must be lower-case letters, digits, '-' or '_'")


def wrap(name: str, fragment: str) -> str:
    """``fragment`` between the begin and end markers of section ``name``."""
    _check_name(name)
    return f"<!-- latentatlas:section {name} -->\n{fragment}\n<!-- /latentatlas:section {name} -->\n"


def splice(page: str, name: str, fragment: str) -> str:
    """``page`` with section ``name`` set to ``fragment``: an earlier copy is removed, the new one goes
    before :data:`SLOT`. Raises :class:`BadInputError` when the page has no slot."""
    if SLOT not in page:
        raise BadInputError(
            "the report has no place for extra sections (not a latentatlas report, or one written by an "
            "older version); re-run `latentatlas run` into that folder first."
        )
    _check_name(name)
    block = re.compile(
        rf"<!-- latentatlas:section {re.escape(name)} -->\n.*?<!-- /latentatlas:section {re.escape(name)} -->\n",
        re.DOTALL,
    )
    page = block.sub("", page)
    return page.replace(SLOT, wrap(name, fragment) + SLOT, 1)


def standalone_page(title: str, section: str, css: str) -> str:
    """A minimal HTML page holding one section (an analysis's own page, beside its report section).

    ``css``: the page's own rules, after the shared body style (so they may override it).
    """
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em} "
        f"{css}</style></head><body>{section}</body></html>"
    )


def report_page(report_dir: str | Path) -> Path:
    """The ``report.html`` of a study output folder; a clear error when there is none.

    Call it before a long analysis so that a wrong ``--report`` fails at once."""
    page = Path(report_dir) / "report.html"
    if not page.is_file():
        raise BadInputError(
            f"--report {report_dir}: no report.html there. Give the output folder of `latentatlas run` "
            "(default latentatlas-out), or leave --report out to write a standalone page only."
        )
    if SLOT not in page.read_text(encoding="utf-8"):
        raise BadInputError(
            f"--report {report_dir}: its report.html has no place for extra sections (not a latentatlas "
            "report, or one written by an older version); re-run `latentatlas run` into that folder first."
        )
    return page


def load_sections(out_dir: str | Path) -> list[tuple[str, str]]:
    """The sections kept in ``out_dir/sections/`` as ``(name, fragment)`` pairs, sorted by name."""
    folder = Path(out_dir) / SECTIONS_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.html")):
        if _NAME.match(path.stem):
            found.append((path.stem, path.read_text(encoding="utf-8")))
        else:
            log.warning("ignoring %s: not a section name", path)
    return found


def attach_section(report_dir: str | Path, name: str, fragment: str) -> dict[str, Path]:
    """Add (or replace) section ``name`` in the report of ``report_dir``; returns the files written."""
    from ..io import atomic_write_text

    page_path = report_page(report_dir)
    page = splice(page_path.read_text(encoding="utf-8"), name, fragment)
    files = {
        f"{SECTIONS_DIR}/{name}.html": atomic_write_text(Path(report_dir) / SECTIONS_DIR / f"{name}.html", fragment),
        "report.html": atomic_write_text(page_path, page),
    }
    log.info("section %r added to %s", name, page_path)
    return files


__all__ = ["SECTIONS_DIR", "SLOT", "attach_section", "load_sections", "report_page", "splice", "standalone_page", "wrap"]
