"""The real bundled all-MiniLM-L6-v2 end to end: extraction matches transformers, a study runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from latentatlas.cli import main

pytestmark = pytest.mark.integration


def test_minilm_store_matches_transformers(tmp_path: Path, minilm_dir: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    from latentatlas.corpus import bundled_corpus
    from latentatlas.settings import ExtractionSettings
    from latentatlas.store import ActivationStore
    from latentatlas.models import load_model

    sentences = list(bundled_corpus(40, seed=3).sentences)
    lm = load_model("minilm")
    store = ActivationStore.build_or_open(
        tmp_path, lm.model, lm.tokenizer, sentences, model_key=lm.fingerprint,
        options=ExtractionSettings(dtype="float32", batch_size=8), progress=False,
    )
    assert store.layers == list(range(7)) and store.hidden_size == 384
    ref_model = AutoModel.from_pretrained(minilm_dir).eval()
    ref_tok = AutoTokenizer.from_pretrained(minilm_dir)
    sid = store.tokens["sentence_id"].to_numpy()
    for i in (0, 17, 39):
        enc = ref_tok(sentences[i], return_tensors="pt", truncation=True, max_length=128)
        with torch.inference_mode():
            hs = ref_model(**enc, output_hidden_states=True).hidden_states
        rows = np.flatnonzero(sid == i)
        for layer in (0, 3, 6):
            np.testing.assert_allclose(store.layer(layer)[rows], hs[layer][0].numpy(), atol=2e-4, rtol=1e-4)


def test_minilm_study_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = {
        "name": "integration",
        "output": str(tmp_path / "out"),
        "cache": str(tmp_path / "cache"),
        "corpus": {"source": "bundled", "n_sentences": 120, "seed": 0},
        "models": ["minilm", "minilm@perturb(alpha=20,seed=0)"],
        "layers": [0, -1],
        "measures": ["acs", "eee", "isoscore", "vrm", {"name": "aq_pp", "params": {"nbits": 6}}],
        "max_points": 2000,
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    assert main(["--quiet", "run", str(path)]) == 0
    df = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert sorted(df["layer"].unique()) == [0, 6]
    assert len(df) == 2 * 2 * 5 and (df["n_points"] == 2000).all()
    v = df.set_index(["spec", "layer", "measure"])["value"]
    # the embedding layer is untouched by weight perturbation; the last layer is not
    assert v["minilm", 0, "eee"] == pytest.approx(v["minilm@perturb(alpha=20,seed=0)", 0, "eee"])
    assert v["minilm", 6, "eee"] != pytest.approx(v["minilm@perturb(alpha=20,seed=0)", 6, "eee"])
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["corpus"]["n_sentences"] == 120
