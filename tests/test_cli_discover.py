"""A CLI you can discover (issue 16.2): measures NAME, checked parameters, --version, global flags after the
subcommand, readable help, run overrides, and messages that only name flags that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentatlas.cli import app, main

SRC = Path(__file__).resolve().parents[1] / "src" / "latentatlas"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_exit_2(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run_cli(capsys, *args)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def _commands() -> dict[str, object]:
    """Every (sub)command by its path, e.g. 'run', 'cache prune'."""
    import typer

    out: dict[str, object] = {}

    def walk(cmd: object, path: str) -> None:
        subs = getattr(cmd, "commands", {})
        if path:
            out[path] = cmd
        for name, sub in subs.items():
            walk(sub, f"{path} {name}".strip())

    walk(typer.main.get_command(app), "")
    return out


def _flags() -> set[str]:
    import typer

    found = set()
    for cmd in [typer.main.get_command(app), *_commands().values()]:
        for p in cmd.params:  # type: ignore[attr-defined]
            found.update(getattr(p, "opts", []))
            found.update(getattr(p, "secondary_opts", []))
    return found


def test_measures_name_shows_everything(capsys: pytest.CaptureFixture[str]) -> None:
    from latentatlas.measures import registry as reg

    code, out, _ = run_cli(capsys, "measures", "mle")
    assert code == 0
    spec = reg.get("mle")
    assert out.startswith("mle: dimension measure (latentatlas)")
    assert "Local estimate m̂ᵢ = (k − 1)/Σ" in out  # the formula: the whole docstring
    assert f"reference:   {spec.reference}" in out
    assert "direction:   higher values mean a more spread (isotropic) cloud" in out
    assert "min points:  21 (with the defaults; it depends on the parameters)" in out
    assert re.search(r"^  k +default 20 +integer ≥ 2$", out, re.MULTILINE)
    assert re.search(r"^  combine +default \"mle\" +one of 'mle', 'mean', 'median'$", out, re.MULTILINE)
    assert re.search(r"^  unbiased +default false +true or false$", out, re.MULTILINE)
    code, out, _ = run_cli(capsys, "measures", "eee", "--json")
    info = json.loads(out)
    assert info["formula"] == reg.get("eee").doc and info["min_points"] == reg.get("eee").required_points()
    assert info["higher_means_spread"] is False and info["source"] == "latentatlas"
    err = one_line_exit_2(capsys, "measures", "EEE")  # suggestions ignore case
    assert "unknown measure 'EEE'; did you mean 'eee'" in err


def test_command_list_and_measure_list_keep_whole_sentences(capsys: pytest.CaptureFixture[str]) -> None:
    from latentatlas.measures import registry as reg

    code, out, _ = run_cli(capsys, "--help")
    commands = out.split("Commands:")[1]
    assert code == 0 and "..." not in commands
    flat = "".join(commands.split())  # wrapping may break a line after a hyphen
    for path, cmd in _commands().items():
        if " " not in path:
            first = "".join((cmd.help or "").split("\n\n")[0].split())  # type: ignore[attr-defined]
            assert first in flat, path
    code, out, _ = run_cli(capsys, "measures")
    for spec in reg.all_measures().values():
        assert spec.summary in out, spec.name


@pytest.mark.parametrize("param", ["mle.k=abc", "mle.k=1", "mle.k=2.5", "mle.combine=max", "mle.kk=3"])
def test_measure_parameters_are_checked_before_any_work(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        param: str) -> None:
    path = tmp_path / "cloud.npy"
    np.save(path, np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32))
    code, out, err = run_cli(capsys, "measure", str(path), "-m", "mle", "-p", param)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "not allowed" in err or "no parameter" in err
    assert "RuntimeWarning" not in err and " nan" not in out


def test_version_and_global_flags_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from latentatlas import __version__

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"latentatlas {__version__}"
    for flags in (["measures", "--quiet"], ["measures", "-v"], ["tasks", "-q", "--json"]):
        code, out, err = run_cli(capsys, *flags)
        assert code == 0 and out, err


def test_help_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    for path in _commands():
        code, out, _ = run_cli(capsys, *path.split(), "--help")
        assert code == 0, path
        assert not re.search(r"<[a-z\[\]|, ]+>", out), (path, out)  # no <int>, <list[str]>, <path>
        usage = out.splitlines()[0]
        assert "{" not in usage, (path, usage)  # no {cloud}
        rows = " ".join(out.split())
        n_sentences = re.search(r"--n-sentences N (.*?)(?= -{1,2}[a-z])", rows)
        if n_sentences:  # one default, said once
            assert n_sentences.group(1).lower().count("default") <= 1, (path, n_sentences.group(1))
    code, out, _ = run_cli(capsys, "measure", "--help")
    assert out.startswith("Usage: latentatlas measure [OPTIONS] CLOUD.npy")
    assert "-m, --measure NAME" in out and "-p, --param MEASURE.PARAM=VALUE" in out


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_exit_2(capsys, "run", "--n-sentences", "abc")
    assert "'--n-sentences'" in err and "latentatlas run --help" in err
    err = one_line_exit_2(capsys, "run", "--n-sentences", "0")
    assert "'--n-sentences'" in err
    one_line_exit_2(capsys, "measure")
    one_line_exit_2(capsys, "no-such-command")


def test_messages_only_name_flags_that_exist() -> None:
    flags = _flags() | {"--help", "--head"}  # `ray start --head`: another program's flag
    named = {}
    for path in SRC.rglob("*.py"):
        for m in re.finditer(r"(?<![\w-])--[a-z][a-z0-9-]*", path.read_text(encoding="utf-8")):
            named.setdefault(m.group(0), str(path.relative_to(SRC)))
    assert {f: where for f, where in named.items() if f not in flags} == {}


def test_glue_message_names_the_study_field() -> None:
    from latentatlas.downstream.tasks import load_task
    from latentatlas.errors import MissingAssetError

    with pytest.raises(MissingAssetError) as exc:
        load_task("rte")
    assert "data_dir in the study file" in str(exc.value) and "--data-dir" not in str(exc.value)


def test_predict_suggests_columns_ignoring_case(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    pd.DataFrame({"spec": list("abcde"), "Average": [1, 2, 3, 4, 6], "AQ_PP": [2, 3, 5, 4, 7]}).to_csv(table, index=False)
    err = one_line_exit_2(capsys, "predict", str(table), "-t", "average", "-p", "AQ_PP")
    assert "did you mean 'Average'" in err
    err = one_line_exit_2(capsys, "predict", str(table), "-t", "Average", "-p", "aq_pp")
    assert "did you mean 'AQ_PP'" in err
    err = one_line_exit_2(capsys, "predict", str(table), "-t", "Average", "--predictors", "aq_*")
    assert "it would match 'AQ_PP' ignoring case" in err


def test_run_overrides(tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LATENTATLAS_CACHE", str(tmp_path / "cache"))
    code, _, err = run_cli(capsys, "-q", "run", "--preset", "quick", "--model", str(tiny_bert_dir), "--measure", "eee",
                           "--measure", "pc_ratio", "--layers", "last", "--n-sentences", "12", "--corpus", "bundled",
                           "--site", "residual", "--site", "attention", "--output", "out")
    assert code == 0, err
    df = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert set(df["spec"]) == {str(tiny_bert_dir)} and set(df["measure"]) == {"eee", "pc_ratio"}
    assert set(df["layer"]) == {2} and set(df["site"]) == {"residual", "attention"}
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["corpus"]["n_sentences"] == 12 and manifest["study"]["name"] == "quick"
    assert manifest["study"]["cache"] == str(tmp_path / "cache")  # the preset names no cache: the variable's

    # Bad overrides: one line naming the problem, exit 2, nothing written.
    (tmp_path / "bad").mkdir()
    monkeypatch.chdir(tmp_path / "bad")
    monkeypatch.setenv("LATENTATLAS_CACHE", str(tmp_path / "bad" / "cache"))
    for args, expect in [
        (["--measure", "EEE"], "did you mean 'eee'"),
        (["--model", "minilm@perturbb(alpha=1)"], "unknown model variant 'perturbb'"),
        (["--layers", "a:b"], "layer range 'a:b' is not of the form START:STOP"),
        (["--corpus", "missing.txt"], "missing.txt"),
        (["--site", "attn"], "site 'attn'"),
        (["--encoding", "latin-9x"], "latin-9x"),
    ]:
        err = one_line_exit_2(capsys, "run", "--preset", "quick", *args)
        assert expect in err, (args, err)
        assert list((tmp_path / "bad").iterdir()) == [], args
