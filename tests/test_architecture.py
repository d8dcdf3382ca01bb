"""The layer rules of docs/ARCHITECTURE.md hold: import-linter's contracts in pyproject.toml are kept.

Counted are all imports, also those inside functions: an upward import or a cycle between sibling
modules fails here.
"""

from __future__ import annotations

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
