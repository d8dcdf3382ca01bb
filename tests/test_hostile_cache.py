"""Cache and output integrity under damage, kills, a full disk, the umask and read-only caches (issue 17).

* Damage: every kind of cached artifact (variant and zoo model folders, fine-tuning runs, feature,
  topology and annotation files, measure values) is altered so that it still loads; the next use must
  warn, rebuild it and give exactly the numbers of the undamaged cache.
* Outputs: a kill while ``report.html`` is written, or a full disk (a write failing with ENOSPC), must
  leave the previous output set as it was, and the rerun must write the new one with no temporaries
  left; a kill during a variant build must not leave its temporary folder behind after the rerun.
* Modes: files and folders we write follow the umask, like any ``open``/``mkdir``.
* Read-only cache: complete entries are used without locks; a missing one is one line naming the fix.
  Tests run as root, which ignores permission bits, so the read-only folder is simulated by refusing
  every write call under it with EROFS; where user namespaces allow, a real read-only bind mount too.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from test_faults import _env, kill_when  # tests/ is on sys.path ("prepend" import mode)

from latentatlas.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and umask are POSIX")

MEASURES = ["acs", "eee"]

# The CLI with a slow-down hook (LA_FAULT_HOOK): "report" writes half of report.html and stalls,
# "variant" stalls after a variant's weights are saved into its temporary folder.
DRIVER = textwrap.dedent(
    """
    import os, pathlib, sys, time

    hook = os.environ.get("LA_FAULT_HOOK", "")
    if hook == "report":
        real_write_text = pathlib.Path.write_text

        def write_text(self, data, *a, **k):
            if "report.html" in self.name:
                real_write_text(self, data[: len(data) // 2], *a, **k)
                time.sleep(300)
            return real_write_text(self, data, *a, **k)

        pathlib.Path.write_text = write_text
    if hook == "variant":
        from transformers import PreTrainedModel
        real_save = PreTrainedModel.save_pretrained

        def save_pretrained(self, *a, **k):
            out = real_save(self, *a, **k)
            time.sleep(300)
            return out

        PreTrainedModel.save_pretrained = save_pretrained
    import torch
    torch.set_num_threads(1)
    from latentatlas.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.fixture
def driver(tmp_path: Path) -> Path:
    p = tmp_path / "driver.py"
    p.write_text(DRIVER)
    return p


@pytest.fixture
def corpus_file(tmp_path: Path, sentences: list[str]) -> Path:
    path = tmp_path / "corpus.txt"
    lines = [f"{s} Sentence number {i} adds a few more words." for i in range(4) for s in sentences]
    path.write_text("\n".join(lines) + "\n")
    return path


def _study(tmp_path: Path, name: str, models: list[str], **over: Any) -> Path:
    spec = {
        "name": name,
        "output": str(tmp_path / f"out-{name}"),
        "cache": str(tmp_path / "cache"),
        "corpus": {"source": str(tmp_path / "corpus.txt"), "n_sentences": None},
        "models": models,
        "layers": "all",
        "measures": MEASURES,
        "max_points": None,
        "seed": 0,
        "extraction": {"batch_size": 8, "dtype": "float32"},
    }
    spec.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _results(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "results.parquet").sort_values(["spec", "layer", "measure"]).reset_index(drop=True)


def _run(study: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """Run a study with the CLI (warnings on); assert exit 0; return stderr."""
    code = main(["-q", "run", str(study), *extra])
    err = capsys.readouterr().err
    assert code == 0, err
    return err


def _visible(folder: Path) -> dict[str, bytes]:
    """The content of every file under ``folder`` a user sees (no name on the way starts with a dot), by
    relative path (the report's figures are in ``figures/``)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def _hidden(folder: Path) -> list[Path]:
    """Names starting with a dot anywhere under ``folder``: temporaries and staging folders."""
    return list(folder.rglob(".*"))


def _writing(folder: Path, name: str) -> bool:
    """Whether a temporary of ``name`` with some content is under ``folder`` (the kill point)."""
    try:
        return any(name in p.name and p.is_file() and p.stat().st_size > 0 for p in _hidden(folder))
    except OSError:  # renamed or removed while we looked
        return False


def _flip_weight_bits(folder: Path, n: int = 4096) -> None:
    """Flip bit 16 of ``n`` float32 weights in ``model.safetensors`` (the header stays valid: it loads)."""
    f = folder / "model.safetensors"
    data = bytearray(f.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")
    for i in range(n):
        data[start + 4 * i + 2] ^= 0x01
    f.write_bytes(bytes(data))


# -- item 3: damaged model folders -------------------------------------------------------------------


def test_damaged_variant_weights_are_rebuilt_with_a_warning(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = _study(tmp_path, "v", [f"{tiny_bert_dir}@perturb(alpha=20,seed=0)"])
    _run(study, capsys)
    first = _results(tmp_path / "out-v")
    (variant,) = [p for p in (tmp_path / "cache" / "models").iterdir() if p.is_dir() and not p.name.startswith(".")]
    _flip_weight_bits(variant)
    # a new corpus or a cleared store would extract from the damaged weights
    shutil.rmtree(tmp_path / "cache" / "activations")
    shutil.rmtree(tmp_path / "cache" / "measures")
    err = _run(study, capsys)
    assert "damaged" in err and "model.safetensors fails its sha256 checksum" in err, err
    pd.testing.assert_frame_equal(first, _results(tmp_path / "out-v"), check_exact=True)
    from latentatlas.io import verify_seal

    verify_seal(variant)  # rebuilt and sealed again


def test_damaged_zoo_model_is_trained_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import torch

    from latentatlas.models import forget_loaded_models, load_model
    from latentatlas.pretrain.zoo import zoo_folder

    spec = ("zoo:mlm(hidden_size=16,num_layers=1,num_heads=2,intermediate_size=32,seq_len=16,batch_size=4,"
            "heldout_blocks=4,eval_every=2,checkpoint_every=2,steps=4,n_sentences=300)")
    first = load_model(spec, cache_dir=tmp_path)
    want = {k: v.clone() for k, v in first.model.state_dict().items()}
    _flip_weight_bits(zoo_folder(spec, tmp_path), n=512)
    forget_loaded_models()  # as a new process would: read the folder again
    with caplog.at_level("WARNING"):
        again = load_model(spec, cache_dir=tmp_path)
    assert any("zoo model" in rec.getMessage() and "damaged" in rec.getMessage() for rec in caplog.records)
    assert again.fingerprint == first.fingerprint
    for k, v in again.model.state_dict().items():
        torch.testing.assert_close(v, want[k], rtol=0, atol=0)


# -- item 3: damaged files of the downstream, topology and annotation caches --------------------------


def _toy_task(n_train: int = 32, n_val: int = 16) -> Any:
    from latentatlas.downstream.base import Split, TaskData, TaskInfo

    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        y = rng.integers(0, 2, size=n)
        return Split(text_a=tuple(f"the film was {'excellent' if v else 'terrible'} today" for v in y),
                     labels=y.astype(np.int64))

    info = TaskInfo("toy", "classification", "accuracy", ("neg", "pos"), False, "offline", "toy")
    return TaskData(info, split(n_train), split(n_val))


def test_damaged_feature_file_is_recomputed(
    tmp_path: Path, tiny_bert_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from transformers import AutoModel, AutoTokenizer

    from latentatlas.downstream.encode import FeatureCache

    model, tok = AutoModel.from_pretrained(tiny_bert_dir).eval(), AutoTokenizer.from_pretrained(tiny_bert_dir)
    task = _toy_task(8, 4)
    cache = FeatureCache(tmp_path)
    first = cache.get_or_compute(model, tok, task.train, task.info, model_key="m", layers=[1, 2])
    (path,) = (tmp_path / "features").glob("*.npz")
    with np.load(path) as z:  # a valid file with other numbers: loads without complaint
        arrays = {k: z[k] * 1.5 if k.startswith("layer_") else z[k] for k in z.files}
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    with caplog.at_level("WARNING"):
        again = cache.get_or_compute(model, tok, task.train, task.info, model_key="m", layers=[1, 2])
    assert any("feature cache" in rec.getMessage() and "fails its sha256" in rec.getMessage() for rec in caplog.records)
    for layer in (1, 2):
        np.testing.assert_array_equal(again.by_layer[layer], first.by_layer[layer])


def test_damaged_topology_file_is_recomputed(
    tmp_path: Path, rng: np.random.Generator, caplog: pytest.LogCaptureFixture
) -> None:
    from latentatlas.measures.topology import store_topology_features

    class Store:
        key = "hostilestore0123"
        X = rng.standard_normal((120, 5)).astype(np.float32)
        n_tokens = 120

        def layer(self, layer: int) -> np.ndarray:
            return self.X

    F, _, _ = store_topology_features(Store(), 1, cache_dir=tmp_path, k=6, n_jobs=1)
    (path,) = (tmp_path / "topology").glob("*.npz")
    with np.load(path) as z:
        spec = z["spec"]
    with open(path, "wb") as f:
        np.savez(f, features=F + 1.0, spec=spec)
    with caplog.at_level("WARNING"):
        F2, _, _ = store_topology_features(Store(), 1, cache_dir=tmp_path, k=6, n_jobs=1)
    assert any("topology" in rec.getMessage() and "fails its sha256" in rec.getMessage() for rec in caplog.records)
    np.testing.assert_array_equal(F2, F)


def test_damaged_annotation_file_is_recomputed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("spacy", reason="spaCy is the optional 'nlp' extra")
    from latentatlas.annotate import annotate

    texts = ["Apple Inc. unveiled a new iPhone in California.", "Mr. Smith went to Washington on Monday."]
    first = annotate(texts, cache_dir=tmp_path, layers=["tag", "ner"])
    (path,) = (tmp_path / "annotations").glob("*.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["tag"][0] = "VB"  # a plausible, wrong tag
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with caplog.at_level("WARNING"):
        again = annotate(texts, cache_dir=tmp_path, layers=["tag", "ner"])
    assert any("annotation cache" in rec.getMessage() and "fails its sha256" in rec.getMessage()
               for rec in caplog.records)
    assert again == first


def test_damaged_finetuning_run_is_run_again(
    tmp_path: Path, tiny_bert_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from transformers import AutoModel, AutoTokenizer

    from latentatlas.downstream.finetune import FinetuneSettings, finetune

    s = FinetuneSettings(learning_rate=1e-3, batch_size=8, per_device_batch_size=4, epochs=1, max_length=16)
    model, tok = AutoModel.from_pretrained(tiny_bert_dir).eval(), AutoTokenizer.from_pretrained(tiny_bert_dir)
    task = _toy_task()
    first = finetune(model, tok, task, model_key="tiny", cache_dir=tmp_path, seed=3, settings=s)
    (result,) = (tmp_path / "finetune").glob("*/result.json")
    r = json.loads(result.read_text())
    r["metrics"]["score"] = 0.999  # valid JSON, wrong number
    result.write_text(json.dumps(r))
    with caplog.at_level("WARNING"):
        again = finetune(model, tok, task, model_key="tiny", cache_dir=tmp_path, seed=3, settings=s)
    assert any("fine-tuning run" in rec.getMessage() and "damaged" in rec.getMessage() for rec in caplog.records)
    assert again.metrics == first.metrics
    assert again.resumed_from_epoch == 0


# -- item 4: measure values --------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["number", "string", "edited_value"])
def test_invalid_measure_values_are_recomputed(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    study = _study(tmp_path, "m", [str(tiny_bert_dir)])
    _run(study, capsys)
    first = _results(tmp_path / "out-m")
    f = min((tmp_path / "cache" / "measures").glob("*.json"))
    data = json.loads(f.read_text())
    (eee,) = [k for k in data if k.startswith("eee|")]
    if damage == "number":  # valid JSON, a plain number without its checksum
        data[eee] = 123.456
    elif damage == "string":
        data[eee] = "123.456"
    else:  # the value altered, its checksum left as it was
        data[eee]["value"] = 123.456
    f.write_text(json.dumps(data))
    err = _run(study, capsys)
    assert "failed validation" in err and "eee" in err and "Traceback" not in err, err
    pd.testing.assert_frame_equal(first, _results(tmp_path / "out-m"), check_exact=True)
    from latentatlas.pipeline.measure import MeasureCache

    assert len(MeasureCache(tmp_path / "cache").load(f.stem)) == len(MEASURES)  # rewritten whole


# -- item 10: outputs under a kill and a full disk; temporaries of killed runs ---------------------------


def test_kill_while_the_report_is_written_keeps_the_previous_outputs(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, driver: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out-k"
    _run(_study(tmp_path, "k", [str(tiny_bert_dir)]), capsys)
    before = _visible(out)
    changed = _study(tmp_path, "k", [str(tiny_bert_dir)], measures=[*MEASURES, "isoscore"])
    kill_when([sys.executable, str(driver), "-q", "run", str(changed)], _env("report"),
              lambda: _writing(out, "report.html"))
    assert _visible(out) == before  # the previous set, whole: no new tables beside the old report
    _run(changed, capsys)
    assert not _hidden(out)  # the killed run's staging folder is gone
    ref = _study(tmp_path, "ref", [str(tiny_bert_dir)], measures=[*MEASURES, "isoscore"])
    _run(ref, capsys)
    pd.testing.assert_frame_equal(_results(out), _results(tmp_path / "out-ref"), check_exact=True)
    manifest = json.loads((out / "run.json").read_text())
    from latentatlas.io import file_sha256

    assert manifest["outputs"] == {name: file_sha256(out / name) for name in manifest["outputs"]}
    assert set(manifest["outputs"]) | {"run.json"} == set(_visible(out))


def test_full_disk_while_writing_outputs_leaves_the_previous_set(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out-d"
    _run(_study(tmp_path, "d", [str(tiny_bert_dir)]), capsys)
    before = _visible(out)
    changed = _study(tmp_path, "d", [str(tiny_bert_dir)], measures=[*MEASURES, "isoscore"])
    real = Path.write_text

    def full_disk(self: Path, data: str, *a: Any, **k: Any) -> int:
        if "report.html" in self.name:
            real(self, data[:100], *a, **k)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, data, *a, **k)

    monkeypatch.setattr(Path, "write_text", full_disk)
    code = main(["-q", "run", str(changed)])
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert len(err.splitlines()) == 1 and "No space left on device" in err and str(out) in err, err
    assert _visible(out) == before and not _hidden(out)
    monkeypatch.undo()
    _run(changed, capsys)
    ref = _study(tmp_path, "ref", [str(tiny_bert_dir)], measures=[*MEASURES, "isoscore"])
    _run(ref, capsys)
    pd.testing.assert_frame_equal(_results(out), _results(tmp_path / "out-ref"), check_exact=True)


def test_kill_during_a_variant_build_leaves_no_temporary_after_the_rerun(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, driver: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "cache" / "models"
    study = _study(tmp_path, "b", [f"{tiny_bert_dir}@perturb(alpha=20,seed=0)"])
    kill_when([sys.executable, str(driver), "-q", "run", str(study)], _env("variant"),
              lambda: any((p / "config.json").is_file() for p in models.glob(".*")))
    assert _hidden(models)  # the killed build's temporary folder
    _run(study, capsys)
    assert not _hidden(models)
    ref = _study(tmp_path, "ref", [f"{tiny_bert_dir}@perturb(alpha=20,seed=0)"], cache=str(tmp_path / "ref-cache"))
    _run(ref, capsys)
    pd.testing.assert_frame_equal(_results(tmp_path / "out-b"), _results(tmp_path / "out-ref"), check_exact=True)


def test_a_live_writers_temporary_is_left_alone(tmp_path: Path) -> None:
    from latentatlas.io import remove_stale_temps, temp_prefix

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ours = tmp_path / f"{temp_prefix('results.csv')}abc123.tmp"
        host = temp_prefix("x").rstrip(".").rsplit("-", 1)[1]
        theirs = tmp_path / f".results.csv.{live.pid}-{host}.xyz789.tmp"
        dead = tmp_path / ".scores.csv.999999999-00000000.q1.tmp"  # another host's: only by age
        other = tmp_path / ".profile"  # not our naming
        for p in (ours, theirs, dead, other):
            p.write_text("x")
        assert remove_stale_temps(tmp_path) == []
        os.utime(dead, (0, 0))  # nothing changed in it for decades
        assert remove_stale_temps(tmp_path) == [dead]
        live.kill()
        live.wait()
        assert remove_stale_temps(tmp_path) == [theirs]
        assert ours.exists() and other.exists()
    finally:
        if live.poll() is None:
            live.kill()
            live.wait()


# -- item 11: modes follow the umask -------------------------------------------------------------------


def test_written_files_and_folders_follow_the_umask(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.umask(0o002)  # a shared group folder
    try:
        _run(_study(tmp_path, "u", [f"{tiny_bert_dir}@perturb(alpha=20,seed=0)"]), capsys)
    finally:
        os.umask(old)
    cache, out = tmp_path / "cache", tmp_path / "out-u"
    checked = [*out.iterdir(), *(cache / "measures").glob("*.json"), *(cache / "activations").glob("*/manifest.json")]
    (variant,) = [p for p in (cache / "models").iterdir() if p.is_dir()]
    checked += [variant, *variant.iterdir()]
    assert len(checked) > 10
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in checked}
    want = {k: oct(0o775) if (tmp_path / k).is_dir() else oct(0o664) for k in modes}
    assert modes == want


# -- item 12: read-only caches -------------------------------------------------------------------------

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _read_only(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Make every write call under ``root`` fail with EROFS, as on a read-only mount (root included)."""
    root_s = str(root.resolve())

    def under(path: Any) -> bool:
        try:
            p = os.path.realpath(os.fspath(path))
        except TypeError:  # a file descriptor
            return False
        return p == root_s or p.startswith(root_s + os.sep)

    def refuse(path: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    def guard(fn: Any, *, paths: int = 1) -> Any:
        def wrapped(*a: Any, **k: Any) -> Any:
            for p in a[:paths]:
                if under(p):
                    refuse(p)
            return fn(*a, **k)
        return wrapped

    real_open, real_os_open, real_access = builtins.open, os.open, os.access

    def ro_open(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        if any(c in mode for c in "wax+") and under(file):
            refuse(file)
        return real_open(file, mode, *a, **k)

    def ro_os_open(path: Any, flags: int, *a: Any, **k: Any) -> int:
        if flags & _WRITE_FLAGS and k.get("dir_fd") is None and under(path):
            refuse(path)
        return real_os_open(path, flags, *a, **k)

    def ro_access(path: Any, mode: int, *a: Any, **k: Any) -> bool:
        if mode & os.W_OK and under(path):
            return False
        return real_access(path, mode, *a, **k)

    monkeypatch.setattr(builtins, "open", ro_open)
    monkeypatch.setattr(io, "open", ro_open)
    monkeypatch.setattr(os, "open", ro_os_open)
    monkeypatch.setattr(os, "access", ro_access)
    for name in ("mkdir", "unlink", "remove", "rmdir", "chmod", "utime"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    for name in ("rename", "replace"):
        monkeypatch.setattr(os, name, guard(getattr(os, name), paths=2))
    monkeypatch.setattr(shutil, "rmtree", guard(shutil.rmtree))


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_read_only_cache_serves_complete_entries_and_says_what_it_lacks(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    models = [str(tiny_bert_dir), f"{tiny_bert_dir}@perturb(alpha=20,seed=0)"]
    _run(_study(tmp_path, "w", models), capsys)
    cache = tmp_path / "cache"
    tree = _tree(cache)
    _read_only(monkeypatch, cache)

    # everything there: the same results, no lock, nothing written
    _run(_study(tmp_path, "r", models), capsys)
    pd.testing.assert_frame_equal(_results(tmp_path / "out-w"), _results(tmp_path / "out-r"), check_exact=True)

    # a new measure on cached clouds: computed, not kept, one warning
    err = _run(_study(tmp_path, "n", models, measures=[*MEASURES, "isoscore"]), capsys)
    assert "read-only" in err and "measure value" in err, err
    new = _results(tmp_path / "out-n")
    pd.testing.assert_frame_equal(
        new[new["measure"] != "isoscore"].reset_index(drop=True), _results(tmp_path / "out-w"), check_exact=True
    )

    # a model it lacks: one line naming the folder and the fix, exit 2
    code = main(["-q", "run", str(_study(tmp_path, "x", [f"{tiny_bert_dir}@perturb(alpha=50,seed=0)"]))])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "read-only" in err and "lacks the activation store" in err and "--cache" in err, err
    assert _tree(cache) == tree


def _can_mount_read_only(tmp: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp / "probe"
    probe.mkdir()
    cmd = f"mount --bind {probe} {probe} && mount -o remount,bind,ro {probe} && ! touch {probe}/x 2>/dev/null"
    return subprocess.run(["unshare", "-rm", "sh", "-c", cmd], capture_output=True, check=False).returncode == 0


def test_a_real_read_only_mount(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, driver: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not _can_mount_read_only(tmp_path):
        pytest.skip("no user namespaces for a read-only bind mount here")
    models = [str(tiny_bert_dir), f"{tiny_bert_dir}@perturb(alpha=20,seed=0)"]
    _run(_study(tmp_path, "w", models), capsys)
    cache = tmp_path / "cache"

    def in_read_only_mount(study: Path) -> subprocess.CompletedProcess[str]:
        inner = f"mount --bind {cache} {cache} && mount -o remount,bind,ro {cache} && exec \"$@\""
        cmd = ["unshare", "-rm", "sh", "-c", inner, "sh", sys.executable, str(driver), "-q", "run", str(study)]
        return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300, check=False)

    done = in_read_only_mount(_study(tmp_path, "r", models))
    assert done.returncode == 0, done.stderr[-2000:]
    pd.testing.assert_frame_equal(_results(tmp_path / "out-w"), _results(tmp_path / "out-r"), check_exact=True)
