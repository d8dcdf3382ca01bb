"""Reliability under real faults: SIGKILL during extraction, a measure grid and fine-tuning, then rerun.

Each fault test starts a driver process (the CLI, or ``finetune`` for fine-tuning) slowed down by a
hook so that the kill lands mid-stage, waits until some work is on disk, kills it with SIGKILL (no
cleanup handlers run), and reruns. The rerun must reuse what was finished (shard progress, cache files
untouched) and end with the same numbers as an uninterrupted run. Also: two runs sharing one cache at
once, concurrent writers of one measure-cache file, and corrupt cache entries.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from latentatlas.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

# A driver: applies a slow-down hook named by LA_FAULT_HOOK, then runs the CLI (or a fine-tuning run).
DRIVER = textwrap.dedent(
    """
    import json, os, sys, time


    def slow(fn, delay):
        def wrapped(*a, **k):
            time.sleep(delay)
            return fn(*a, **k)
        return wrapped


    def toy_finetune(model_dir, cache):
        import numpy as np
        import latentatlas.downstream.finetune as ft
        from transformers import AutoModel, AutoTokenizer
        from latentatlas.downstream.base import Split, TaskData, TaskInfo
        rng = np.random.default_rng(0)
        def split(n):
            y = rng.integers(0, 2, size=n)
            return Split(text_a=tuple(f"the film was {'excellent' if v else 'terrible'} today" for v in y),
                         labels=y.astype(np.int64))
        info = TaskInfo("toy", "classification", "accuracy", ("neg", "pos"), False, "offline", "toy")
        task = TaskData(info, split(32), split(16))
        s = ft.FinetuneSettings(learning_rate=1e-3, batch_size=8, per_device_batch_size=4, epochs=3, max_length=16)
        model = AutoModel.from_pretrained(model_dir).eval()
        tok = AutoTokenizer.from_pretrained(model_dir)
        r = ft.finetune(model, tok, task, model_key="tiny", cache_dir=cache, seed=3, settings=s)
        return {"metrics": r.metrics, "resumed_from_epoch": r.resumed_from_epoch, "model_dir": str(r.model_dir)}


    if __name__ == "__main__":
        import torch
        torch.set_num_threads(1)
        hook = os.environ.get("LA_FAULT_HOOK", "")
        delay = float(os.environ.get("LA_FAULT_DELAY", "0.3"))
        import latentatlas.store.store as store
        store.BATCHES_PER_SHARD = 1
        if hook == "extract":
            store.forward_batch = slow(store.forward_batch, delay)
        if hook == "measure":
            import latentatlas.measures.registry as reg
            reg.run_battery = slow(reg.run_battery, delay)
        if hook == "finetune":
            import latentatlas.downstream.finetune as ft
            ft._labels_for = slow(ft._labels_for, delay)
        if sys.argv[1] == "finetune":
            print(json.dumps(toy_finetune(sys.argv[2], sys.argv[3])))
            sys.exit(0)
        from latentatlas.cli import main
        sys.exit(main(sys.argv[1:]))
    """
)


@pytest.fixture
def driver(tmp_path: Path) -> Path:
    p = tmp_path / "driver.py"
    p.write_text(DRIVER)
    return p


def _env(hook: str = "", delay: float = 0.3) -> dict[str, str]:
    env = dict(os.environ, LA_FAULT_HOOK=hook, LA_FAULT_DELAY=str(delay), OMP_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def kill_when(cmd: list[str], env: dict[str, str], ready: Callable[[], bool], timeout: float = 120.0) -> None:
    """Start ``cmd``; SIGKILL it as soon as ``ready()`` holds; fail if it ends on its own first."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t_end = time.monotonic() + timeout
    try:
        while time.monotonic() < t_end:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"driver ended (code {proc.returncode}) before the kill point:\n{err.decode()[-2000:]}")
            if ready():
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                assert proc.returncode == -signal.SIGKILL
                return
            time.sleep(0.05)
        pytest.fail("the kill point was never reached")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def corpus_file(tmp_path: Path, sentences: list[str]) -> Path:
    path = tmp_path / "corpus.txt"
    lines = [f"{s} Sentence number {i} adds a few more words." for i in range(6) for s in sentences]
    path.write_text("\n".join(lines) + "\n")
    return path


def _study(tmp_path: Path, name: str, models: list[str], **over: object) -> Path:
    spec = {
        "name": name,
        "output": str(tmp_path / f"out-{name}"),
        "cache": str(tmp_path / f"cache-{name}"),
        "corpus": {"source": str(tmp_path / "corpus.txt"), "n_sentences": None},
        "models": models,
        "layers": "all",
        "measures": ["acs", "eee", "isoscore", {"name": "pq_pp", "params": {"nbits": 4}}],
        "max_points": None,
        "seed": 0,
        "extraction": {"batch_size": 4, "dtype": "float32"},
    }
    spec.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _results(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "results.parquet").sort_values(["spec", "layer", "measure"]).reset_index(drop=True)


# -- kill -9 during extraction --------------------------------------------------------------------------------


def test_kill_during_extraction_resumes_unfinished_shards(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, driver: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import latentatlas.store.store as store_mod

    def args(cache: Path) -> list[str]:
        return ["-q", "extract", "-m", str(tiny_bert_dir), "--corpus", str(corpus_file), "--n-sentences", "48",
                "--batch-size", "4", "--dtype", "float32", "--cache", str(cache), "--json"]

    cache = tmp_path / "cache"

    def progress() -> list[int]:
        for p in (cache / "activations").glob("*.partial/progress.json"):
            try:
                return list(json.loads(p.read_text())["done"])
            except (OSError, ValueError):
                return []
        return []

    kill_when([sys.executable, str(driver), *args(cache)], _env("extract"), lambda: len(progress()) >= 3)
    done_before = progress()
    assert 3 <= len(done_before) < 12  # 48 sentences / batch 4 = 12 one-batch shards
    assert not [p for p in (cache / "activations").iterdir() if p.is_dir() and not p.name.endswith(".partial")]

    monkeypatch.setattr(store_mod, "BATCHES_PER_SHARD", 1)
    calls = {"n": 0}
    real = store_mod.forward_batch

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(store_mod, "forward_batch", counting)
    assert main(args(cache)) == 0
    assert calls["n"] == 12 - len(done_before)  # only the unfinished shards were recomputed

    monkeypatch.setattr(store_mod, "forward_batch", real)
    assert main(args(tmp_path / "ref")) == 0
    (a,) = [p for p in (cache / "activations").iterdir() if p.is_dir()]
    (b,) = [p for p in (tmp_path / "ref" / "activations").iterdir() if p.is_dir()]
    assert a.name == b.name
    sa, sb = store_mod.ActivationStore.open(a), store_mod.ActivationStore.open(b)
    for layer in sa.layers:
        np.testing.assert_array_equal(sa.layer(layer), sb.layer(layer))
    pd.testing.assert_frame_equal(sa.tokens, sb.tokens)


# -- kill -9 during the measure grid ------------------------------------------------------------------------


def test_kill_during_measure_grid_redoes_only_unfinished_clouds(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, driver: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import latentatlas.measures.registry as reg

    models = [str(tiny_bert_dir), f"{tiny_bert_dir}@random_init(seed=1)"]
    study = _study(tmp_path, "grid", models)
    mdir = tmp_path / "cache-grid" / "measures"
    kill_when([sys.executable, str(driver), "-q", "run", str(study)], _env("measure", 1.0),
              lambda: len(list(mdir.glob("*.json"))) >= 2)
    finished = {p: p.stat().st_mtime_ns for p in mdir.glob("*.json")}
    assert 2 <= len(finished) < 6  # 2 models x 3 layers
    assert not (tmp_path / "out-grid").exists()  # nothing half-written

    calls = {"n": 0}
    real = reg.run_battery

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(reg, "run_battery", counting)
    assert main(["-q", "run", str(study)]) == 0
    assert calls["n"] == 6 - len(finished)
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # finished clouds untouched

    monkeypatch.setattr(reg, "run_battery", real)
    ref = _study(tmp_path, "ref", models)
    assert main(["-q", "run", str(ref)]) == 0
    pd.testing.assert_frame_equal(_results(tmp_path / "out-grid"), _results(tmp_path / "out-ref"))


# -- kill -9 during fine-tuning ------------------------------------------------------------------------------


def test_kill_during_finetuning_resumes_at_the_last_epoch(tmp_path: Path, tiny_bert_dir: Path, driver: Path) -> None:
    import importlib.util

    cache = tmp_path / "ft"
    kill_when([sys.executable, str(driver), "finetune", str(tiny_bert_dir), str(cache)], _env("finetune", 0.15),
              lambda: bool(list(cache.glob("finetune/*/checkpoint.pt"))))
    (ckpt,) = cache.glob("finetune/*/checkpoint.pt")
    assert not (ckpt.parent / "result.json").exists()

    spec = importlib.util.spec_from_file_location("fault_driver", driver)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    resumed = mod.toy_finetune(str(tiny_bert_dir), str(cache))
    assert resumed["resumed_from_epoch"] >= 1  # finished epochs were not redone
    full = mod.toy_finetune(str(tiny_bert_dir), str(tmp_path / "ref"))
    assert full["resumed_from_epoch"] == 0
    assert resumed["metrics"] == pytest.approx(full["metrics"], rel=1e-6)
    import torch
    from transformers import AutoModel

    wa = AutoModel.from_pretrained(resumed["model_dir"]).state_dict()
    wb = AutoModel.from_pretrained(full["model_dir"]).state_dict()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k])


# -- concurrency ---------------------------------------------------------------------------------------------


def test_two_runs_sharing_one_cache_at_once(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, driver: Path
) -> None:
    from latentatlas.store import ActivationStore

    models = [str(tiny_bert_dir)]
    a = _study(tmp_path, "a", models, cache=str(tmp_path / "shared"))
    b = _study(tmp_path, "b", models, cache=str(tmp_path / "shared"))
    procs = [subprocess.Popen([sys.executable, str(driver), "-q", "run", str(s)], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for s in (a, b)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    pd.testing.assert_frame_equal(_results(tmp_path / "out-a"), _results(tmp_path / "out-b"))
    entries = [p for p in (tmp_path / "shared" / "activations").iterdir() if p.is_dir()]
    assert len(entries) == 1 and not entries[0].name.endswith(".partial")
    ActivationStore.open(entries[0], verify="checksum")  # raises if torn
    for f in (tmp_path / "shared" / "measures").glob("*.json"):
        assert len(json.loads(f.read_text())) == 4  # every measure of the cloud, none lost


def _hammer(root: str, worker: int, n: int) -> None:
    from latentatlas.pipeline.measure import MeasureCache

    cache = MeasureCache(Path(root))
    for i in range(n):
        cache.update("cloud", {f"w{worker}-{i}": float(i)})


def test_measure_cache_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")  # the workers only touch JSON files and locks
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), w, 40)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    from latentatlas.pipeline.measure import MeasureCache

    data = MeasureCache(tmp_path).load("cloud")
    assert set(data) == {f"w{w}-{i}" for w in range(3) for i in range(40)}


# -- corruption (the store's own damage cases are in test_extract.py) ------------------------------------------


@pytest.mark.parametrize("damage", ["tokens", "progress", "measure_json"])
def test_corrupt_cache_files_are_detected_and_rebuilt(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, damage: str
) -> None:
    study = _study(tmp_path, "c", [str(tiny_bert_dir)])
    assert main(["-q", "run", str(study)]) == 0
    first = _results(tmp_path / "out-c")
    acts = tmp_path / "cache-c" / "activations"
    (entry,) = [p for p in acts.iterdir() if p.is_dir()]
    if damage == "tokens":  # token index altered in place: fails its checksum
        f = entry / "tokens.parquet"
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0xFF
        f.write_bytes(bytes(data))
    elif damage == "progress":  # an interrupted build whose progress file is garbage: discarded, rebuilt
        partial = entry.with_name(entry.name + ".partial")
        entry.rename(partial)
        (partial / "progress.json").write_text("{not json")
    else:  # a torn measure-cache file: recomputed
        f = next((tmp_path / "cache-c" / "measures").glob("*.json"))
        f.write_text(f.read_text()[:20])
    assert main(["-q", "run", str(study)]) == 0
    pd.testing.assert_frame_equal(first, _results(tmp_path / "out-c"))
    (entry2,) = [p for p in acts.iterdir() if p.is_dir()]
    from latentatlas.store import ActivationStore

    ActivationStore.open(entry2, verify="checksum")
