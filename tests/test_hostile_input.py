"""Hostile and unlucky input (issue 17, items 5–9 and 13): the bad-input matrix of files and folders.

Every case runs the CLI and checks: the exit code (2 bad input, 1 a machine that cannot do the work),
exactly one line on stderr naming the problem, no traceback, and nothing written (the working folder's
files byte for byte as before). Binary and non-UTF-8 corpora, complex / renamed / empty ``.npy`` files,
damaged model folders, outputs and caches that cannot be written, model specs spelled two ways, and
parameters that only fail once the model's width is known. Beside the matrix: the library calls behind
it (strict decoding with ``encoding``, the streamed ``measure`` path and its memory) and the error
mapping of everything else (a full disk, an unexpected exception, ``-v``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml

from latentatlas.cli import main
from latentatlas.errors import BadInputError

READ_ONLY = Path("/sys")  # a folder nobody (root included) can create entries in


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _cannot_create_in(folder: Path) -> bool:
    try:
        (folder / ".latentatlas-probe").mkdir()
    except OSError:
        return True
    (folder / ".latentatlas-probe").rmdir()
    return False


class _RunsCode:
    """Unpickling this creates a marker file: the stand-in for an attacker's command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """Copies of the tiny BERT, each damaged one way (outside the working folder: they are inputs)."""
    import torch

    root = tmp_path_factory.mktemp("bad_models")

    def copy(name: str) -> Path:
        return Path(shutil.copytree(tiny_bert_dir, root / name))

    (copy("bad_config") / "config.json").write_text('{"model_type": "bert", "hidden_size": 32,,}')
    weights = copy("truncated") / "model.safetensors"
    with open(weights, "r+b") as fh:
        fh.truncate(weights.stat().st_size // 2)
    config = json.loads((tiny_bert_dir / "config.json").read_text())
    (copy("remote_code") / "config.json").write_text(json.dumps(
        {**config, "model_type": "mybert", "auto_map": {"AutoModel": "modeling_mybert.MyBertModel"}}))
    (copy("unknown_type") / "config.json").write_text(json.dumps({**config, "model_type": "nonesuch"}))
    pickled = copy("pickle_bin")
    (pickled / "model.safetensors").unlink()
    torch.save({"bert.embeddings.word_embeddings.weight": torch.zeros(2, 2),
                "payload": _RunsCode(root / "PWNED")}, pickled / "pytorch_model.bin")
    return root


@pytest.fixture
def workdir(tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding every input file the cases refer to; the CLI runs inside it."""
    rng = np.random.default_rng(0)
    good = "\n".join(f"The cat number {i} sat on the mat today." for i in range(30))
    (tmp_path / "corpus.txt").write_text(good)
    (tmp_path / "random.txt").write_bytes(rng.bytes(20_000))
    (tmp_path / "control.txt").write_bytes(bytes(rng.integers(1, 9, 4000, dtype=np.uint8)) + b"\nSome words here.\n")
    (tmp_path / "latin1.txt").write_bytes(good.replace("cat", "café").encode("latin-1"))
    (tmp_path / "latin1.csv").write_bytes(("text\n" + good.replace("cat", "café")).encode("latin-1"))
    (tmp_path / "utf16.txt").write_bytes(good.encode("utf-16-le"))  # no byte-order mark: NUL bytes
    np.save(tmp_path / "complex.npy", (rng.normal(size=(20, 3)) + 1j).astype(np.complex64))
    np.savez(tmp_path / "arrays.npz", X=rng.normal(size=(20, 3)))
    os.replace(tmp_path / "arrays.npz", tmp_path / "renamed.npy")
    (tmp_path / "folder.npy").mkdir()
    (tmp_path / "zero_bytes.npy").write_bytes(b"")
    np.save(tmp_path / "no_rows.npy", np.zeros((0, 8), dtype=np.float32))
    np.save(tmp_path / "no_columns.npy", np.zeros((8, 0), dtype=np.float32))
    np.save(tmp_path / "strings.npy", np.array(["a", "b", "c"]))
    np.save(tmp_path / "cloud.npy", rng.normal(size=(300, 8)).astype(np.float16))
    (tmp_path / "inf.csv").write_text("y,x\n1,1\n2,2\n3,inf\n4,4\n5,5\n6,7\n")
    (tmp_path / "a_file").write_text("not a folder")
    tiny = str(tiny_bert_dir)
    base = {"output": "out", "cache": "cache", "corpus": {"source": "corpus.txt", "n_sentences": None},
            "models": [tiny], "measures": ["eee"]}
    studies: dict[str, object] = {
        "good": base,
        "same_model_twice": {**base, "models": [f"{tiny}@perturb(alpha=10,seed=0)", f"{tiny}@perturb(seed=0,alpha=10)"]},
        "same_folder_twice": {**base, "models": [tiny, tiny + "/"]},
        "pq_width": {**base, "measures": ["eee", {"name": "pq_pp", "params": {"M": 5}}]},
        "pq_range": {**base, "measures": ["eee", {"name": "pq_pp", "params": {"M": 0}}]},
        "cache_file": {**base, "cache": "a_file"},
        "output_file": {**base, "output": "a_file"},
        "latin1_corpus": {**base, "corpus": {"source": "latin1.txt", "n_sentences": None}},
    }
    for name, spec in studies.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "latin1_study.yaml").write_bytes(f"name: café\nmodels: [{tiny}]\n".encode("latin-1"))
    (tmp_path / "invalid.yaml").write_text("models: [a, b\nmeasures: {")
    (tmp_path / "unsafe_tag.yaml").write_text("models: !!python/object/apply:os.system ['touch PWNED']\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# (id, argv, exit code, text the one line must hold); {tiny}/{char}/{bad} are filled in.
CASES: list[tuple[str, list[str], int, str]] = [
    # item 5: corpora that are not text in the given encoding
    ("corpus-random-bytes", ["extract", "-m", "{tiny}", "--corpus", "random.txt", "--cache", "cache"], 2,
     "corpus file 'random.txt' is binary, not utf-8 text: a NUL byte at byte offset"),
    ("corpus-control-chars", ["extract", "-m", "{tiny}", "--corpus", "control.txt", "--cache", "cache"], 2,
     "control characters, the first at byte offset 0"),
    ("corpus-latin1-txt", ["extract", "-m", "{tiny}", "--corpus", "latin1.txt", "--cache", "cache"], 2,
     ("corpus file 'latin1.txt' is not utf-8 text: byte b'\\xe9' at byte offset 7 cannot be decoded; pass the "
      "file's encoding with --encoding")),
    ("corpus-latin1-csv", ["extract", "-m", "{tiny}", "--corpus", "latin1.csv", "--cache", "cache"], 2,
     "byte offset 12 cannot be decoded; pass the file's encoding with --encoding"),
    ("corpus-utf16-as-utf8", ["extract", "-m", "{tiny}", "--corpus", "utf16.txt", "--cache", "cache"], 2,
     "a NUL byte at byte offset 1; pass a text file"),
    ("corpus-unknown-encoding", ["extract", "-m", "{tiny}", "--corpus", "latin1.txt", "--encoding", "latin-9x",
                                 "--cache", "cache"], 2, "unknown text encoding 'latin-9x'"),
    ("corpus-latin1-study", ["run", "latin1_corpus.yaml"], 2, "is not utf-8 text"),
    ("compare-latin1-corpus", ["compare", "{tiny}", "{tiny}", "--corpus", "latin1.txt", "--cache", "cache",
                               "--output", "cmp"], 2, "--encoding"),
    # items 6 and 8: .npy files that are not a real-valued 2-D array
    ("npy-complex", ["measure", "complex.npy"], 2, "holds complex numbers (dtype complex64)"),
    ("npy-npz-renamed", ["measure", "renamed.npy"], 2, "is an .npz archive (a zip of arrays), not a .npy array"),
    ("npy-folder", ["measure", "folder.npy"], 2, "cloud file 'folder.npy' is a folder; pass a .npy file"),
    ("npy-zero-bytes", ["measure", "zero_bytes.npy"], 2, "is empty (0 bytes)"),
    ("npy-no-rows", ["measure", "no_rows.npy"], 2, "holds an empty array of shape (0, 8)"),
    ("npy-no-columns", ["measure", "no_columns.npy"], 2, "holds an empty array of shape (8, 0)"),
    ("npy-strings", ["measure", "strings.npy"], 2, "must hold real numbers, got dtype <U1"),
    ("compare-npy-complex", ["compare", "complex.npy", "complex.npy", "--output", "cmp"], 2, "complex numbers"),
    # item 13: a measure that needs the whole cloud in memory, beyond the allowance
    ("measure-memory", ["measure", "cloud.npy", "-m", "twonn", "--max-memory", "0.00001"], 1,
     "need the whole cloud in memory: about"),
    ("measure-max-points", ["measure", "cloud.npy", "--max-points", "1"], 2, "a subsample needs at least 2 points"),
    # item 7: one model spelled two ways
    ("run-same-model-twice", ["run", "same_model_twice.yaml"], 2, "@perturb(seed=0,alpha=10)' are the same model"),
    ("run-same-folder-twice", ["run", "same_folder_twice.yaml"], 2, "are the same model"),
    # item 8: model folders transformers cannot use
    ("model-bad-config", ["extract", "-m", "{bad}/bad_config", "--corpus", "corpus.txt", "--cache", "cache"], 2,
     "has an invalid config.json (Expecting property name enclosed in double quotes at line 1, column 42)"),
    ("model-truncated", ["extract", "-m", "{bad}/truncated", "--corpus", "corpus.txt", "--cache", "cache"], 2,
     "weights file 'model.safetensors' of model folder"),
    ("model-remote-code", ["extract", "-m", "{bad}/remote_code", "--corpus", "corpus.txt", "--cache", "cache"], 2,
     "needs its own Python code"),
    ("model-unknown-type", ["extract", "-m", "{bad}/unknown_type", "--corpus", "corpus.txt", "--cache", "cache"], 2,
     "has model_type 'nonesuch', which transformers"),
    ("model-pickle-bin", ["extract", "-m", "{bad}/pickle_bin", "--corpus", "corpus.txt", "--cache", "cache"], 2,
     "holds pickled objects other than tensors and was refused unread"),
    ("compare-bad-model", ["compare", "{tiny}", "{bad}/truncated", "--corpus", "corpus.txt", "--cache", "cache",
                           "--output", "cmp"], 2, "is damaged or truncated"),
    ("topology-bad-model", ["topology", "-m", "{bad}/remote_code", "--cache", "cache", "--output", "top"], 2,
     "needs its own Python code"),
    # item 8: outputs and caches that are files
    ("run-output-file", ["run", "output_file.yaml"], 2, "output folder (the study's output:) 'a_file' is a file"),
    ("run-output-option-file", ["run", "good.yaml", "--output", "a_file"], 2, "--output folder 'a_file' is a file"),
    ("run-output-under-file", ["run", "good.yaml", "--output", "a_file/out"], 2, "cannot be made: "),
    ("run-cache-file", ["run", "cache_file.yaml"], 2, "cache folder (the study's cache:) 'a_file' is a file"),
    ("extract-cache-file", ["extract", "-m", "{tiny}", "--corpus", "corpus.txt", "--cache", "a_file"], 2,
     "--cache folder 'a_file' is a file"),
    ("compare-output-file", ["compare", "cloud.npy", "cloud.npy", "--output", "a_file"], 2, "is a file"),
    ("topology-output-file", ["topology", "--output", "a_file", "--cache", "cache"], 2, "is a file"),
    ("anchor-output-file", ["anchor", "-m", "{tiny}", "--output", "a_file"], 2, "is a file"),
    ("pretrain-output-file", ["pretrain", "--output", "a_file", "--steps", "1"], 2, "is a file"),
    ("concepts-output-file", ["concepts", "-m", "{tiny}", "--output", "a_file", "--cache", "cache"], 2, "is a file"),
    # item 8: study files
    ("study-latin1", ["run", "latin1_study.yaml"], 2, "study file 'latin1_study.yaml' is not utf-8 text"),
    ("study-invalid-yaml", ["run", "invalid.yaml"], 2, "is not valid YAML"),
    ("study-unsafe-tag", ["run", "unsafe_tag.yaml"], 2, "is not valid YAML: could not determine a constructor"),
    # item 8: predict with an infinite value, which is not a missing one
    ("predict-inf", ["predict", "inf.csv", "-t", "y", "-p", "x"], 2,
     "predictor column 'x' has infinite values (inf or -inf) in 1 row(s) (2)"),
    # item 9: parameters and tasks refused before any store or annotation cache is written
    ("run-pq-width", ["run", "pq_width.yaml"], 2, "M=5 does not divide the width 32 of model"),
    ("run-pq-range", ["run", "pq_range.yaml"], 2, "pq_pp.M=0 is not allowed"),
    ("concepts-tagging-task", ["concepts", "-m", "{tiny}", "--task", "bbc_pos", "--cache", "cache", "--output", "out"],
     2, "task 'bbc_pos' is a tagging task"),
    ("compare-tokenisers", ["compare", "{tiny}", "{char}", "--corpus", "corpus.txt", "--n-sentences", "8",
                            "--cache", "cache", "--output", "cmp"], 2, "tokenise the sentences differently"),
]


@pytest.mark.parametrize(("argv", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(
    workdir: Path, tiny_bert_dir: Path, char_bert_dir: Path, bad_models: Path, capsys: pytest.CaptureFixture[str],
    argv: list[str], code: int, message: str,
) -> None:
    fill = {"{tiny}": str(tiny_bert_dir), "{char}": str(char_bert_dir), "{bad}": str(bad_models)}
    args = []
    for a in argv:
        for k, v in fill.items():
            a = a.replace(k, v)
        args.append(a)
    before = _snapshot(workdir)
    got = main(["-q", *args])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and lines[0].startswith("latentatlas: error: "), err
    assert "Traceback" not in err
    assert message in lines[0], lines[0]
    assert _snapshot(workdir) == before  # no output folder, no cache entry, no half-written file
    assert not (bad_models / "PWNED").exists() and not (workdir / "PWNED").exists()


@pytest.mark.skipif(not READ_ONLY.is_dir() or not _cannot_create_in(READ_ONLY), reason="no read-only folder here")
@pytest.mark.parametrize("argv", [
    ["run", "good.yaml", "--output", f"{READ_ONLY}/latentatlas-out"],
    ["extract", "-m", "{tiny}", "--corpus", "corpus.txt", "--cache", f"{READ_ONLY}/latentatlas-cache"],
    ["compare", "cloud.npy", "cloud.npy", "--output", f"{READ_ONLY}/latentatlas-compare"],
    ["pretrain", "--output", f"{READ_ONLY}/latentatlas-pretrain", "--steps", "1"],
], ids=["run-output", "extract-cache", "compare-output", "pretrain-output"])
def test_a_folder_that_cannot_be_written_is_exit_1_before_any_work(
    workdir: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    before = _snapshot(workdir)
    code = main(["-q", *(a.replace("{tiny}", str(tiny_bert_dir)) for a in argv)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"cannot be created in '{READ_ONLY}'" in err and "pass a folder you can write to" in err
    assert _snapshot(workdir) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_exit_1(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = workdir / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code = main(["-q", "compare", "cloud.npy", "cloud.npy", "--output", str(locked)])
    finally:
        locked.chmod(0o755)
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"--output folder '{locked}' cannot be written: Permission denied" in err
    assert list(locked.iterdir()) == []


# -- environment errors and everything else -----------------------------------------------------------


def test_a_full_disk_is_one_line_exit_1_naming_the_path(
    workdir: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(os, "replace", full)  # every atomic write ends in os.replace
    code = main(["-q", "extract", "-m", str(tiny_bert_dir), "--corpus", "corpus.txt", "--n-sentences", "10",
                 "--cache", "cache"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("latentatlas: error: file system error at cache/")
    assert "No space left on device; free some space there or pass another folder" in err


def test_an_unexpected_error_is_one_line_and_its_traceback_comes_with_v(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from latentatlas.measures import stream

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something broke\nin two lines")

    monkeypatch.setattr(stream, "measure_file", broken)
    assert main(["-q", "measure", "cloud.npy"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        ("latentatlas: error: unexpected RuntimeError: something broke in two lines (run `latentatlas -v ...` for "
         "the traceback, and please report it).")
    ]
    assert main(["-v", "measure", "cloud.npy"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: something broke" in err
    assert err.strip().splitlines()[-1].startswith("latentatlas: error: unexpected RuntimeError")


# -- the library behind the matrix ------------------------------------------------------------------------


def test_a_corpus_is_decoded_in_the_encoding_given(workdir: Path) -> None:
    from latentatlas.corpus import load_corpus

    latin = load_corpus("latin1.txt", encoding="latin-1")
    assert len(latin) == 30 and "The café number 0 sat on the mat today." in latin.sentences
    assert load_corpus("latin1.csv", encoding="latin-1").sentences == latin.sentences
    assert load_corpus("utf16.txt", encoding="utf-16-le").sentences == load_corpus("corpus.txt").sentences
    with pytest.raises(BadInputError, match="byte offset 7 cannot be decoded"):
        load_corpus("latin1.txt")  # never "caf" or "caf\ufffd"


def test_binary_detection_counts_control_characters_not_text() -> None:
    from latentatlas.corpus import BINARY_CONTROL_SHARE, read_corpus_text

    assert BINARY_CONTROL_SHARE == 0.30
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    f = tmp / f"latentatlas-ctrl-{os.getpid()}.txt"
    try:
        f.write_bytes(b"\x01" * 29 + b"a" * 71)  # 29% control characters: text
        assert read_corpus_text(f).count("a") == 71
        f.write_bytes(b"a" * 69 + b"\x01" * 31)  # 31%: binary, first control character at byte 69
        with pytest.raises(BadInputError, match="31% control characters, the first at byte offset 69"):
            read_corpus_text(f)
        f.write_bytes(b"tab\tand\r\nnew line\n" * 50)  # tabs and line breaks are text
        assert read_corpus_text(f).startswith("tab\tand")
    finally:
        f.unlink(missing_ok=True)


def test_model_specs_are_compared_in_normal_form(tiny_bert_dir: Path) -> None:
    from latentatlas.pipeline import plan
    from latentatlas.settings import Study

    a, b = f"{tiny_bert_dir}@perturb(alpha=10,seed=0)", f"{tiny_bert_dir}@perturb(seed=0,alpha=10)"
    with pytest.raises(BadInputError, match=r"models '.*alpha=10,seed=0\)' and '.*seed=0,alpha=10\)' are the same"):
        plan.model_specs(Study(models=[a, b]))
    assert len(plan.model_specs(Study(models=[a, f"{tiny_bert_dir}@perturb(alpha=10,seed=1)"]))) == 2


def _streamable_names() -> list[str]:
    from latentatlas.measures.stream import streamable

    return streamable()


def test_measure_file_streams_with_the_in_memory_values(tmp_path: Path) -> None:
    from latentatlas.measures import registry as reg
    from latentatlas.measures.stream import measure_file, subsample_rows

    X = np.random.default_rng(1).normal(size=(3000, 12)).astype(np.float16)
    np.save(tmp_path / "x.npy", X)
    names = [*_streamable_names(), "twonn", "vrm"]
    got = measure_file(tmp_path / "x.npy", names, seed=3)
    want = reg.run_battery(X.astype(np.float32), names, seed=3)
    assert list(got) == names and got == want  # bit for bit, streamed or not
    sub = measure_file(tmp_path / "x.npy", names, seed=3, max_points=500)
    rows = subsample_rows(3000, 500, 3, 0)
    assert sub == reg.run_battery(X[rows].astype(np.float32), names, seed=3)


def test_measure_file_streams_in_a_fraction_of_the_file(tmp_path: Path) -> None:
    """numpy reports its buffers to tracemalloc, so the traced peak is the arrays a path holds at once:
    the streamed path holds chunks, the old path a float32 copy of the whole cloud plus an n × d mask."""
    from latentatlas.measures import registry as reg
    from latentatlas.measures.stream import measure_file

    path = tmp_path / "big.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(1_000_000, 16))
    out[:] = np.random.default_rng(0).normal(size=(1_000_000, 16)).astype(np.float16)
    del out
    size = path.stat().st_size  # 32 MB

    def traced_peak(fn) -> int:  # type: ignore[no-untyped-def]
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    names = ["eee", "isoscore", "pca90", "acs"]
    streamed = traced_peak(lambda: measure_file(path, names))
    old = traced_peak(lambda: reg.run_battery(np.asarray(np.load(path, mmap_mode="r")), names))
    assert streamed < size / 2 < 2 * size < old, (streamed, size, old)


def test_every_command_that_reads_a_corpus_takes_its_encoding(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The undecodable-corpus error tells the user to pass --encoding: every command with --corpus has it, and
    it reaches the corpus (pre-training on a Latin-1 file runs; without the flag it is refused in one line)."""
    from typer.main import get_command

    from latentatlas.cli import app

    group = get_command(app)
    with_corpus = {name for name, cmd in group.commands.items()
                   if any("--corpus" in p.opts for p in cmd.params)}
    assert {"extract", "run", "pretrain", "anchor", "topology", "concepts"} <= with_corpus
    for name in with_corpus:
        assert any("--encoding" in p.opts for p in group.commands[name].params), name
    Path("latin1-long.txt").write_bytes("\n".join(f"The café number {i} sat on the mat today." for i in range(300))
                                         .encode("latin-1"))
    tiny = ["pretrain", "--corpus", "latin1-long.txt", "--steps", "1", "--hidden-size", "16", "--num-layers", "1",
            "--num-heads", "1", "--intermediate-size", "16", "--seq-len", "16", "--batch-size", "2"]
    assert main([*tiny, "--output", "refused"]) == 2
    assert "--encoding" in capsys.readouterr().err and not Path("refused").exists()
    assert main([*tiny, "--encoding", "latin-1", "--output", "zoo"]) == 0
    assert (Path("zoo") / "config.json").is_file()
