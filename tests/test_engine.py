"""Engines: the local default, and Ray against a real local instance (ray.init(num_cpus=2)) giving the
same results as the local engine, bit for bit."""

from __future__ import annotations

import importlib.util
import operator
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from latentatlas.cli import main
from latentatlas.engine import LocalEngine, get_engine, run_all
from latentatlas.errors import BadInputError

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'latentatlas[ray]')")


def test_local_engine_runs_in_order() -> None:
    eng = get_engine("local")
    assert isinstance(eng, LocalEngine)
    assert list(eng.imap_unordered(operator.sub, [3, 1, 2], 10)) == [(0, 7), (1, 9), (2, 8)]
    assert run_all(eng, operator.sub, [], 0) == []


def test_unknown_engine_and_stray_address() -> None:
    with pytest.raises(BadInputError, match="unknown engine 'rey'; did you mean 'ray'"):
        get_engine("rey")
    with pytest.raises(BadInputError, match="use it with --engine ray"):
        get_engine("local", address="10.0.0.1:6379")


def test_importing_latentatlas_never_imports_ray() -> None:
    code = "import sys, latentatlas, latentatlas.cli, latentatlas.pipeline, latentatlas.engine; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- Ray ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_instance():  # type: ignore[no-untyped-def]
    if not HAS_RAY:
        pytest.skip("ray is not installed (pip install 'latentatlas[ray]')")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def corpus_file(tmp_path: Path, sentences: list[str]) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(f"{s} Sentence number {i} adds a few more words." for i in range(5) for s in sentences))
    return path


@needs_ray
def test_ray_engine_maps_on_workers(ray_instance) -> None:  # type: ignore[no-untyped-def]
    eng = get_engine("ray")
    assert eng.name == "ray"
    # a module-level function (test modules are not importable on workers)
    assert run_all(eng, operator.sub, list(range(7)), 100) == [100 - i for i in range(7)]
    eng.close()  # the instance was started by the fixture: left running
    assert ray_instance.is_initialized()


@needs_ray
@pytest.mark.parametrize("site", ["residual", "module:encoder.layer.*.intermediate"])
def test_ray_extraction_equals_local_bit_for_bit(  # type: ignore[no-untyped-def]
    ray_instance, tmp_path: Path, tiny_bert_dir: Path, sentences: list[str], monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    from transformers import AutoModel, AutoTokenizer

    from latentatlas.settings import ExtractionSettings
    from latentatlas.store import ActivationStore
    from latentatlas.store import store as store_mod

    monkeypatch.setattr(store_mod, "BATCHES_PER_SHARD", 1)  # 20 shards over the two workers
    model, tok = AutoModel.from_pretrained(tiny_bert_dir).eval(), AutoTokenizer.from_pretrained(tiny_bert_dir)
    sents = [f"{s} ({i})" for i in range(5) for s in sentences]
    opts = ExtractionSettings(batch_size=2, dtype="float32")
    local = ActivationStore.build_or_open(tmp_path / "a", model, tok, sents, model_key="tiny", options=opts, progress=False,
                                          site=site)
    ray_store = ActivationStore.build_or_open(tmp_path / "b", model, tok, sents, model_key="tiny", options=opts,
                                              progress=False, engine=get_engine("ray"), site=site)
    assert local.key == ray_store.key
    for layer in local.layers:
        np.testing.assert_array_equal(local.layer(layer), ray_store.layer(layer))
    assert local.manifest["files"] == ray_store.manifest["files"]  # same bytes: same sha256


@needs_ray
def test_run_engine_ray_equals_local(  # type: ignore[no-untyped-def]
    ray_instance, tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path
) -> None:
    def study(name: str) -> Path:
        spec = {
            "name": name, "output": str(tmp_path / f"out-{name}"), "cache": str(tmp_path / f"cache-{name}"),
            "corpus": {"source": str(corpus_file), "n_sentences": None},
            "models": [str(tiny_bert_dir), f"{tiny_bert_dir}@perturb(alpha=10,seed=1)"],
            "measures": ["acs", "eee", "isoscore", "twonn", {"name": "pq_pp", "params": {"nbits": 4}}],
            "max_points": None, "seed": 0,
        }
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump(spec))
        return p

    assert main(["-q", "run", str(study("local"))]) == 0
    assert main(["-q", "run", str(study("ray")), "--engine", "ray"]) == 0
    a = pd.read_parquet(tmp_path / "out-local" / "results.parquet")
    b = pd.read_parquet(tmp_path / "out-ray" / "results.parquet")
    assert len(a) == 2 * 3 * 5
    pd.testing.assert_frame_equal(a, b, check_exact=True)  # same rows, same order, same bits
    import json

    assert json.loads((tmp_path / "out-ray" / "run.json").read_text())["engine"] == "ray"


@needs_ray
def test_unreachable_address_fails_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["run", "--engine", "ray", "--address", f"127.0.0.1:{port}", "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "no Ray cluster answers at" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
