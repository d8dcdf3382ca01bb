"""The command-line interface: listing, measuring a .npy cloud, and every bad input → exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from latentatlas.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cloud_file(tmp_path: Path, rng: np.random.Generator) -> Path:
    path = tmp_path / "cloud.npy"
    np.save(path, rng.normal(size=(500, 8)).astype(np.float32))
    return path


def test_measures_lists_registry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "measures", "--json")
    assert code == 0
    listed = {m["name"]: m for m in json.loads(out)}
    assert {"acs", "eee", "isoscore", "aq_pp", "pq_pp_published"} <= set(listed)
    assert listed["eee"]["family"] == "spread"
    assert listed["aq_pp"]["defaults"]["M"] == 4


def test_measure_json_matches_api(capsys: pytest.CaptureFixture[str], cloud_file: Path) -> None:
    import latentatlas as la

    code, out, _ = run_cli(
        capsys, "--quiet", "measure", str(cloud_file), "-m", "eee", "-m", "isoscore", "--seed", "3", "--json"
    )
    assert code == 0
    got = json.loads(out)
    X = np.load(cloud_file)
    assert got == pytest.approx({"eee": la.compute("eee", X), "isoscore": la.compute("isoscore", X)})


def test_measure_param_override(capsys: pytest.CaptureFixture[str], cloud_file: Path) -> None:
    import latentatlas as la

    code, out, _ = run_cli(
        capsys, "-q", "measure", str(cloud_file), "-m", "pq_pp", "-p", "pq_pp.nbits=4", "--json"
    )
    assert code == 0
    assert json.loads(out)["pq_pp"] == pytest.approx(la.compute("pq_pp", np.load(cloud_file), nbits=4))


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((20, 3), np.nan), "non-finite"),
        (np.zeros((4, 5, 6)), "must be 2-D"),
        (np.arange(6, dtype=float).reshape(2, 3), "needs at least 3 points"),
    ],
)
def test_measure_bad_cloud(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, array: np.ndarray, message: str
) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    code, out, err = run_cli(capsys, "measure", str(path), "-m", "eee", "--json")
    assert code == 2
    assert message in err and out == ""


def test_measure_unknown_name_suggests(capsys: pytest.CaptureFixture[str], cloud_file: Path) -> None:
    code, _, err = run_cli(capsys, "measure", str(cloud_file), "-m", "isoscor")
    assert code == 2 and "unknown measure 'isoscor'" in err and "'isoscore'" in err


def test_measure_missing_or_unreadable_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "measure", str(tmp_path / "nope.npy"))
    assert code == 2 and "does not exist" in err
    junk = tmp_path / "junk.npy"
    junk.write_text("not an array")
    code, _, err = run_cli(capsys, "measure", str(junk))
    assert code == 2 and "not a readable .npy" in err


def test_measure_bad_param(capsys: pytest.CaptureFixture[str], cloud_file: Path) -> None:
    code, _, err = run_cli(capsys, "measure", str(cloud_file), "-m", "eee", "-p", "eee.bogus=1")
    assert code == 2 and "no parameter" in err
    code, _, err = run_cli(capsys, "measure", str(cloud_file), "-m", "eee", "-p", "bogus")
    assert code == 2 and "MEASURE.PARAM=VALUE" in err


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run_cli(capsys, "measure")
    assert code == 2
