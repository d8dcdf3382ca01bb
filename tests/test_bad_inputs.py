"""The bad-input matrix: every bad input the CLI can get → its message, exit code 2, one line on stderr,
and nothing written (the working folder's files are byte-for-byte as before).

Cases already tested elsewhere are not repeated here: a non-finite / non-2-D / too-small cloud, an
unknown measure, a missing or unreadable .npy and a bad ``--param`` (tests/test_cli.py); an unknown
measure, variant or model folder, a stray study field, a missing corpus, a layer out of range, an empty
or fully filtered corpus, a missing study file and invalid YAML (tests/test_run.py); models tokenising
differently (tests/test_compare.py). The README's "Bad input" section lists all of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from latentatlas.cli import main


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture
def workdir(tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding every input file the cases refer to; the CLI runs inside it."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(50, 4)).astype(np.float32))
    np.save(tmp_path / "b.npy", rng.normal(size=(40, 4)).astype(np.float32))
    (tmp_path / "table.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "corpus.txt").write_text("\n".join(f"The cat number {i} sat on the mat today." for i in range(30)))
    paragraph = " ".join(f"The cat number {i} sat on the mat today." for i in range(8))  # 64 words
    (tmp_path / "paragraphs.txt").write_text("\n".join(f"{paragraph} Paragraph {j}." for j in range(10)))
    base = {"output": "out", "cache": "cache", "corpus": {"source": "corpus.txt", "n_sentences": None},
            "models": [str(tiny_bert_dir)], "measures": ["eee"]}
    studies: dict[str, object] = {
        "good": base,
        "list": ["a", "b"],
        "models_int": {**base, "models": 5},
        "models_empty": {**base, "models": []},
        "measure_param": {**base, "measures": [{"name": "eee", "params": {"bogus": 1}}]},
        "max_points": {**base, "max_points": 3},
        "seed": {**base, "seed": "abc"},
        "dtype": {**base, "extraction": {"dtype": "int8"}},
        "layers": {**base, "layers": "banana"},
        "task": {**base, "tasks": ["nosuchtask"]},
        "sites": {**base, "sites": ["residual", "attn"]},
        "paragraphs": {**base, "corpus": {"source": "paragraphs.txt"}},
    }
    for name, spec in studies.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.chdir(tmp_path)
    return tmp_path


CASES: list[tuple[str, list[str], str]] = [
    # measures / measure
    ("measures-unknown-family", ["measures", "--family", "nope"], "unknown measure family 'nope'"),
    # extract: options
    ("extract-dtype", ["extract", "-m", "{tiny}", "--dtype", "float8", "--cache", "cache"], "dtype: Input should be 'float16' or 'float32'"),
    ("extract-batch-size", ["extract", "-m", "{tiny}", "--batch-size", "0", "--cache", "cache"], "batch_size: Input should be greater than or equal to 1"),
    ("extract-max-length", ["extract", "-m", "{tiny}", "--max-length", "1", "--cache", "cache"], "max_length: Input should be greater than or equal to 2"),
    ("extract-n-sentences", ["extract", "-m", "{tiny}", "--n-sentences", "0", "--cache", "cache"], "n_sentences: Input should be greater than or equal to 1"),
    ("extract-layers", ["extract", "-m", "{tiny}", "--layers", "banana", "--cache", "cache"], "layer selection 'banana' is not understood"),
    ("extract-layer-range", ["extract", "-m", "{tiny}", "--corpus", "corpus.txt", "--n-sentences", "10", "--layers", "7", "--cache", "cache"], "layer 7 is out of range"),
    ("extract-variant", ["extract", "-m", "{tiny}@perturbb(alpha=1)", "--cache", "cache"], "did you mean 'perturb'"),
    ("extract-model-dir", ["extract", "-m", "/no/such/model", "--cache", "cache"], "model directory '/no/such/model' does not exist"),
    ("extract-corpus", ["extract", "-m", "{tiny}", "--corpus", "/no/such.txt", "--cache", "cache"], "corpus file '/no/such.txt' does not exist"),
    ("extract-text-column", ["extract", "-m", "{tiny}", "--corpus", "table.csv", "--text-column", "zzz", "--cache", "cache"], "has no column 'zzz'"),
    # corpora of paragraphs, activation sites
    ("extract-paragraphs", ["extract", "-m", "{tiny}", "--corpus", "paragraphs.txt", "--cache", "cache"], "if its lines are paragraphs, split them into sentences with --split-sentences"),
    ("run-paragraphs", ["run", "paragraphs.yaml"], "split them into sentences with --split-sentences (corpus.split_sentences: true in a study)"),
    ("extract-site", ["extract", "-m", "{tiny}", "--site", "attn", "--cache", "cache"], "unknown activation site 'attn'; did you mean 'attention'"),
    ("extract-site-pattern", ["extract", "-m", "{tiny}", "--corpus", "corpus.txt", "--n-sentences", "10", "--site", "module:nope.*", "--cache", "cache"], "site 'module:nope.*' matches no module of this BertModel"),
    ("extract-site-layer-0", ["extract", "-m", "{tiny}", "--corpus", "corpus.txt", "--n-sentences", "10", "--site", "mlp", "--layers", "0", "--cache", "cache"], "site 'mlp' has one layer per block (1..2) and no embedding layer"),
    ("run-sites", ["run", "sites.yaml"], "sites: unknown activation site 'attn'"),
    ("pretrain-corpus", ["pretrain", "--corpus", "/no/such.txt", "--output", "pt"], "corpus file '/no/such.txt' does not exist"),
    ("pretrain-text-column", ["pretrain", "--text-column", "body", "--output", "pt"], "--text-column names a column of a .csv/.jsonl corpus; pass the file with --corpus"),
    ("topology-paragraphs", ["topology", "--model", "{tiny}", "--corpus", "paragraphs.txt", "--cache", "cache", "--output", "top"], "split them into sentences with --split-sentences"),
    ("anchor-text-column", ["anchor", "-m", "{tiny}", "--text-column", "body", "--output", "anc"], "--text-column names a column of a .csv/.jsonl corpus"),
    ("concepts-split-without-corpus", ["concepts", "--split-sentences", "--output", "con", "--cache", "cache"], "--text-column and --split-sentences read a corpus file; pass it with --corpus FILE"),
    ("concepts-corpus-heldout", ["concepts", "--corpus", "corpus.txt", "--analysis-split", "heldout", "--output", "con", "--cache", "cache"], "--analysis-split heldout draws the analysed sentences from the task, --corpus from a corpus"),
    # run: presets and study files
    ("run-preset", ["run", "--preset", "nope"], "unknown preset 'nope'; choose one of: default, full, quick."),
    ("run-study-not-mapping", ["run", "list.yaml"], "must be a YAML mapping"),
    ("run-models-type", ["run", "models_int.yaml"], "models: Input should be a valid list"),
    ("run-models-empty", ["run", "models_empty.yaml"], "models: List should have at least 1 item"),
    ("run-measure-param", ["run", "measure_param.yaml"], "measure 'eee' has no parameter(s) ['bogus']"),
    ("run-max-points", ["run", "max_points.yaml"], "max_points: Input should be greater than or equal to 10"),
    ("run-seed", ["run", "seed.yaml"], "seed: Input should be a valid integer"),
    ("run-extraction-dtype", ["run", "dtype.yaml"], "extraction.dtype: Input should be 'float16' or 'float32'"),
    ("run-layers", ["run", "layers.yaml"], "layer selection 'banana' is not understood"),
    ("run-task", ["run", "task.yaml"], "unknown task 'nosuchtask'"),
    # engine and device options (run and extract)
    ("run-engine", ["run", "good.yaml", "--engine", "rey"], "unknown engine 'rey'; did you mean 'ray'"),
    ("run-address-local", ["run", "good.yaml", "--address", "10.0.0.1:6379"], "use it with --engine ray"),
    ("extract-engine", ["extract", "-m", "{tiny}", "--engine", "spark", "--cache", "cache"], "unknown engine 'spark'"),
    ("run-device", ["run", "--device", "tpu"], "unknown device 'tpu'"),
    ("extract-device", ["extract", "-m", "{tiny}", "--device", "gpu", "--cache", "cache"], "unknown device 'gpu'"),
    # compare
    ("compare-rows", ["compare", "a.npy", "b.npy", "--output", "cmp"], "must be 2-D with the same rows"),
    ("compare-measure", ["compare", "a.npy", "a.npy", "-m", "ckaa", "--output", "cmp"], "did you mean 'cka'"),
    # predict
    ("predict-table", ["predict", "nope.csv", "-t", "a", "-p", "b"], "table 'nope.csv' does not exist"),
    ("predict-target", ["predict", "table.csv", "-t", "zz", "-p", "a"], "unknown target column 'zz'"),
    ("predict-too-few-rows", ["predict", "table.csv", "-t", "a", "-p", "b"], "needs at least 4 training rows"),
    # topology
    ("topology-seeds", ["topology", "--seeds", "a,b", "--output", "top"], "--seeds 'a,b' must be comma-separated integers"),
    ("topology-k", ["topology", "--k", "0", "--output", "top"], "invalid option --k: Input should be greater than or equal to 2"),
    # anchor
    ("anchor-ks", ["anchor", "-m", "{tiny}", "--ks", "x", "--output", "anc"], "--ks 'x' must be comma-separated integers"),
    ("anchor-model", ["anchor", "-m", "/no/such/dir", "--output", "anc"], "model directory '/no/such/dir' does not exist"),
    # concepts
    ("concepts-k-sweep", ["concepts", "--k-sweep", "10,x", "--output", "con"], "--k-sweep '10,x' must be comma-separated integers"),
    ("concepts-report", ["concepts", "--report", "nowhere", "--output", "con"], "--report nowhere: no report.html there"),
    # pretrain
    ("pretrain-objective", ["pretrain", "--objective", "nope", "--output", "pt"], "unknown pre-training objective 'nope'"),
    ("pretrain-steps", ["pretrain", "--steps", "0", "--output", "pt"], "invalid option --steps: Input should be greater than or equal to 1"),
]


@pytest.mark.parametrize(("argv", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    workdir: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    before = _snapshot(workdir)
    code = main(["-q", *(a.replace("{tiny}", str(tiny_bert_dir)) for a in argv)])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("latentatlas: error: "), err
    assert message in lines[0]
    assert _snapshot(workdir) == before  # no output folder, no cache entry, no half-written file


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("command", [["run", "good.yaml"], ["extract", "-m", "{tiny}", "--cache", "cache"]],
                         ids=["run", "extract"])
def test_device_cuda_without_a_gpu(
    workdir: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    before = _snapshot(workdir)
    code = main(["-q", *(a.replace("{tiny}", str(tiny_bert_dir)) for a in command), "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--device cuda needs a CUDA GPU but none is available" in err and "--device cpu" in err
    assert _snapshot(workdir) == before
