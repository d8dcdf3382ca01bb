"""Hostile and unlucky input: files on disk never run code, and the source never reopens that hole.

Each case plants what an attacker could leave in an output folder or a shared cache and checks the
command refuses it with one line on stderr and exit code 2, without running the planted code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from latentatlas.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"


def _one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], expect: str) -> None:
    code = main(["--quiet", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert expect in err, err


def test_pretrain_refuses_a_planted_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str], plant_code) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    marker = plant_code(out / "checkpoint" / "state.pt")
    _one_line_exit_2(capsys, ["pretrain", "--output", str(out), "--steps", "2"], "refused unread")
    assert not marker.exists()


def test_zoo_spec_refuses_a_checkpoint_planted_in_the_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str], plant_code) -> None:  # type: ignore[no-untyped-def]
    from latentatlas.pretrain.zoo import zoo_folder

    cache = tmp_path / "cache"
    marker = plant_code(zoo_folder("zoo:mlm(steps=5)", cache) / "checkpoint" / "state.pt")
    _one_line_exit_2(capsys, ["extract", "-m", "zoo:mlm(steps=5)", "--cache", str(cache), "--n-sentences", "20"],
                     "refused unread")
    assert not marker.exists()


UNSAFE = [
    (re.compile(r"weights_only\s*=\s*False"), "torch.load must keep weights_only=True"),
    (re.compile(r"allow_pickle\s*=\s*True"), "numpy.load must keep allow_pickle=False"),
    (re.compile(r"yaml\.load\((?![^)]*Loader\s*=\s*[\w.]*Safe)"), "YAML must be read with a safe loader"),
    (re.compile(r"yaml\.(unsafe_load|full_load)\("), "YAML must be read with a safe loader"),
    (re.compile(r"\bpickle\.loads?\("), "no pickle.load of files"),
    (re.compile(r"trust_remote_code\s*=\s*True"), "no remote code from model folders"),
]


def test_source_never_reopens_a_code_execution_hole() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pattern, why in UNSAFE:
                if pattern.search(line):
                    found.append(f"{path.relative_to(SRC)}:{lineno}: {why}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_source_scan_catches_each_pattern() -> None:
    bad = ["torch.load(p, weights_only=False)", "np.load(p, allow_pickle=True)", "yaml.load(text)",
           "yaml.unsafe_load(text)", "pickle.load(fh)", "from_pretrained(p, trust_remote_code=True)"]
    for line in bad:
        assert any(p.search(line) for p, _ in UNSAFE), line
    assert not any(p.search("yaml.load(text, Loader=yaml.SafeLoader)") for p, _ in UNSAFE)
    assert os.path.isdir(SRC / "latentatlas")


BOMB = """\
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
measures: [{name: pq_pp, params: {M: *g}}]
"""

STUDIES = [
    ("alias-bomb", BOMB.encode(), "alias *a is not allowed"),
    ("duplicate-key", b"models: [minilm]\nseed: 1\nseed: 2\n", "duplicate key 'seed'"),
    ("duplicate-nested", b"corpus: {n_sentences: 10, n_sentences: 20}\n", "duplicate key 'n_sentences'"),
    ("invalid", b"models: [minilm\nseed: 1\n", "is not valid YAML"),
    ("unsafe-tag", b"models: !!python/object/apply:os.system ['true']\n", "is not valid YAML"),
    ("latin-1", "name: café\n".encode("latin-1"), "is not utf-8 text (byte 9"),
]


@pytest.mark.parametrize(("name", "content", "expect"), STUDIES, ids=[c[0] for c in STUDIES])
def test_hostile_study_files_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str], name: str, content: bytes,
                                          expect: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.yaml").write_bytes(content)
    before = sorted(tmp_path.rglob("*"))
    _one_line_exit_2(capsys, ["run", "study.yaml"], expect)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_a_study_error_line_stays_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.yaml").write_text(BOMB)
    main(["--quiet", "run", "study.yaml"])
    assert len(capsys.readouterr().err) < 500
