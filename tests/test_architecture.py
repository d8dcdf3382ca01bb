"""The layer rules of docs/ARCHITECTURE.md hold: import-linter's contracts in pyproject.toml are kept.

Counted are all imports, also those inside functions: an upward import or a cycle between sibling
modules fails here.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_loading_settings_imports_no_torch() -> None:
    code = ("import sys; from latentatlas.settings import read_study; read_study(None); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


PACKAGE = ROOT / "src" / "latentatlas"
_FENCED = re.compile(r"```.*?```", re.DOTALL)
_SPAN = re.compile(r"`([^`\n]+)`")
_WORD = re.compile(r"[A-Za-z_][\w./<>*-]*")


def _named_in_architecture() -> list[str]:
    """Every word in an inline code span of docs/ARCHITECTURE.md that looks like a path or a dotted name."""
    text = _FENCED.sub("", (ROOT / "docs" / "ARCHITECTURE.md").read_text())
    words = [w.rstrip(".") for span in _SPAN.findall(text) for w in _WORD.findall(span)]
    return sorted({w for w in words if ("/" in w or "." in w) and "<" not in w})


def _exists(word: str) -> bool:
    """A path under the repository or the package, or a module/attribute of latentatlas (``la.`` = the
    package; ``pipeline/report.write_outputs`` = module ``pipeline.report``, attribute ``write_outputs``)."""
    star, word = word.endswith("*"), word.rstrip("*")
    if word.endswith((".py", ".md", ".toml", "/")):
        if (ROOT / word).exists() or (PACKAGE / word).exists():
            return True
        tail = "/" + word.rstrip("/")  # `concepts/` in the analyses line, `run.py` of an analysis
        return any(f"/{p.relative_to(PACKAGE).as_posix()}".endswith(tail) for p in PACKAGE.rglob("*"))
    parts = word.replace("/", ".").split(".")
    parts = parts[1:] if parts[0] in ("la", "latentatlas") else parts
    obj: object = importlib.import_module("latentatlas")
    while parts and hasattr(obj, "__path__") and importlib.util.find_spec(f"{obj.__name__}.{parts[0]}"):
        obj = importlib.import_module(f"{obj.__name__}.{parts.pop(0)}")
    for name in parts:
        candidates = [n for n in dir(obj) if n == name or (star and n.startswith(name))]
        if not candidates:
            return False
        obj = getattr(obj, candidates[0])
    return True


def _is_ours(word: str) -> bool:
    """A path, or a dotted name whose first part is the package or one of its modules (not a settings field
    path like ``extraction.dtype``, not an output file like ``run.json``)."""
    if word.endswith((".py", ".md", ".toml", "/")):
        return True
    head = word.replace("/", ".").split(".")[0]
    return head in ("la", "latentatlas") or (PACKAGE / head).is_dir() or (PACKAGE / f"{head}.py").exists()


def _map_paths() -> set[str]:
    """The files and folders of the "Map of the package" section, each bullet's names under its folder
    (``* `stats/`: `correlate.py` ...`` gives ``stats/correlate.py``)."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Map of the package", 1)[1].split("\n## ", 1)[0]
    paths: set[str] = set()
    for bullet in re.split(r"\n\* ", section)[1:]:
        folder = ""
        for m in _SPAN.finditer(bullet):
            span = m.group(1)
            if re.fullmatch(r"[a-z_]+/", span) and bullet[m.end():].startswith(":"):  # `stats/`: starts a folder
                folder = span
                paths.add(folder)
            elif re.fullmatch(r"[a-z_]+(/|\.py)", span):
                paths.add(folder + span)
    return paths


def test_architecture_names_only_what_exists() -> None:
    named = [w for w in _named_in_architecture() if _is_ours(w)]
    mapped = _map_paths()
    assert len(named) > 80 and len(mapped) > 60  # the map names the modules: the check is not vacuous
    for must in ("api.py", "logs.py", "cachedir.py", "pipeline/predictor.py", "store/sites.py",
                 "stats/selection.py", "stats/groups.py", "stats/reference.py", "stats/predictor.py",
                 "analyses/concepts/", "analyses/anchor/", "analyses/topology/", "analyses/compare/"):
        assert must in mapped, must
    missing = [w for w in named if not _exists(w)] + sorted(p for p in mapped if not (PACKAGE / p).exists())
    assert not missing, f"docs/ARCHITECTURE.md names what does not exist: {missing}"
