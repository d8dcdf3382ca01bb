"""The notebook API (issue 16.1): extract, layer_table, Study, load_results, measure, on the tiny BERT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import latentatlas as la
from latentatlas.errors import BadInputError


def test_extract_from_a_folder_and_reuse(tmp_path: Path, tiny_bert_dir: Path) -> None:
    acts = la.extract(str(tiny_bert_dir), "bundled", n_sentences=12, cache=tmp_path / "c")
    assert isinstance(acts, la.Activations)
    assert acts.layers == [0, 1, 2]
    assert len(acts.sentences) == 12
    assert list(acts.tokens.columns) == ["sentence_id", "position", "token_id", "token", "word_id", "is_special"]
    assert len(acts.tokens) == acts.n_tokens
    X = acts.cloud(2)
    assert X.shape == (acts.n_tokens, 32) and X.dtype == np.float32
    sub = acts.cloud(-1, max_points=50, seed=3)
    assert sub.shape == (50, 32)
    np.testing.assert_array_equal(sub, acts.store.cloud(2, max_points=50, seed=3))
    again = la.extract(tiny_bert_dir, "bundled", n_sentences=12, cache=tmp_path / "c")  # a Path works too
    assert again.path == acts.path
    assert sorted(p.name for p in (tmp_path / "c" / "activations").iterdir() if p.is_dir()) == [acts.path.name]


def test_extract_and_layer_table_at_another_site(tmp_path: Path, tiny_bert_dir: Path, sentences: list[str]) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    acts = la.extract(str(tiny_bert_dir), sentences, site="mlp", cache=tmp_path / "c")
    assert acts.site == "mlp" and acts.layers == [1, 2]  # a block site has no embedding layer
    # the MLP site is each block's feed-forward output before the residual add (BERT: layer.output.dense),
    # read here by a hook by hand
    model, tok = AutoModel.from_pretrained(tiny_bert_dir).eval(), AutoTokenizer.from_pretrained(tiny_bert_dir)
    seen: list[torch.Tensor] = []
    hook = model.encoder.layer[1].output.dense.register_forward_hook(lambda m, i, o: seen.append(o[0]))
    with torch.no_grad():
        model(**tok(sentences[0], return_tensors="pt"))
    hook.remove()
    first = acts.tokens["sentence_id"].to_numpy() == 0
    np.testing.assert_allclose(acts.cloud(2)[first], seen[0].numpy(), atol=2e-2)  # stored as float16
    assert acts.cloud(2).shape[1] == model.config.hidden_size
    assert la.extract(str(tiny_bert_dir), sentences, cache=tmp_path / "c").path != acts.path
    table = la.layer_table(str(tiny_bert_dir), sentences, measures=["eee"], site="mlp", cache=tmp_path / "c")
    assert list(table["layer"]) == [1, 2]
    assert table["eee"].iloc[1] == pytest.approx(la.compute("eee", acts.cloud(2, max_points=20000)), rel=1e-12)
    with pytest.raises(BadInputError, match="site 'module:'"):
        la.extract(str(tiny_bert_dir), sentences, site="module:", cache=tmp_path / "c")


def test_extract_a_loaded_model_and_tokenizer(tmp_path: Path, tiny_bert_dir: Path, sentences: list[str]) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    by_folder = la.extract(str(tiny_bert_dir), sentences, cache=tmp_path / "c")
    model, tok = AutoModel.from_pretrained(tiny_bert_dir), AutoTokenizer.from_pretrained(tiny_bert_dir)
    by_object = la.extract(model, sentences, tokenizer=tok, cache=tmp_path / "c")
    assert by_object.model.startswith("memory:")
    for layer in by_folder.layers:  # the same weights give the same hidden states
        np.testing.assert_array_equal(by_object.cloud(layer), by_folder.cloud(layer))
    # The key is the content: an equal copy shares it, a changed weight does not.
    twin = AutoModel.from_pretrained(tiny_bert_dir)
    assert la.extract((twin, tok), sentences, cache=tmp_path / "c").path == by_object.path
    with torch.no_grad():
        twin.encoder.layer[0].output.dense.weight[0, 0] += 1.0
    changed = la.extract(twin, sentences, tokenizer=tok, cache=tmp_path / "c")
    assert changed.fingerprint != by_object.fingerprint
    assert not np.array_equal(changed.cloud(1), by_object.cloud(1))
    np.testing.assert_array_equal(changed.cloud(0), by_object.cloud(0))  # embeddings untouched
    with pytest.raises(BadInputError, match="needs its tokenizer"):
        la.extract(model, sentences, cache=tmp_path / "c")


def test_layer_table_is_one_line_to_a_profile(tmp_path: Path, tiny_bert_dir: Path) -> None:
    table = la.layer_table(str(tiny_bert_dir), "bundled", measures=["eee", "twonn"], n_sentences=15,
                           max_points=100, cache=tmp_path / "c")
    assert list(table.columns) == ["layer", "eee", "twonn", "n_points"]
    assert table["layer"].tolist() == [0, 1, 2]
    assert (table["n_points"] == 100).all()
    acts = la.extract(str(tiny_bert_dir), "bundled", n_sentences=15, cache=tmp_path / "c")
    for row in table.itertuples():
        X = acts.cloud(row.layer, max_points=100, seed=0)
        assert row.eee == la.measure(X, "eee")
        assert row.twonn == la.measure(X, "twonn")
    # The same numbers as a study of the same model, corpus, subsample and seed (one shared cache).
    study = la.Study(models=[str(tiny_bert_dir)], measures=["eee", "twonn"], max_points=100,
                     corpus={"source": "bundled", "n_sentences": 15}, cache=str(tmp_path / "c"))
    res = study.run(output=tmp_path / "out")
    wide = res.profile(str(tiny_bert_dir))
    np.testing.assert_array_equal(wide[["eee", "twonn"]].to_numpy(), table[["eee", "twonn"]].to_numpy())
    with_params = la.layer_table(str(tiny_bert_dir), "bundled", measures={"mle": {"k": 5}}, n_sentences=15,
                                 max_points=100, cache=tmp_path / "c", layers="last")
    assert with_params["mle"].iloc[0] == la.measure(acts.cloud(2, max_points=100), "mle", k=5)
    with pytest.raises(BadInputError, match=r"mle.k=1 is not allowed"):
        la.layer_table(str(tiny_bert_dir), measures={"mle": {"k": 1}}, cache=tmp_path / "c")


def test_study_from_yaml_run_and_load_results(tmp_path: Path, tiny_bert_dir: Path) -> None:
    spec = {"models": [str(tiny_bert_dir)], "measures": ["eee", "pc_ratio"], "max_points": None,
            "corpus": {"source": "bundled", "n_sentences": 10}, "cache": str(tmp_path / "c"),
            "output": str(tmp_path / "default-out")}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec))
    res = la.Study.from_yaml(tmp_path / "study.yaml").run(output=tmp_path / "out")
    assert isinstance(res, la.Results) and res.folder == tmp_path / "out"
    assert len(res.results) == 3 * 2 and set(res.results["measure"]) == {"eee", "pc_ratio"}
    assert res.scores is None and res.correlations is None  # no tasks, no analysis
    assert res.manifest["study"]["measures"] == ["eee", "pc_ratio"]
    loaded = la.load_results(tmp_path / "out")
    pd.testing.assert_frame_equal(loaded.results, res.results)
    assert list(loaded.tables()) == ["results"]
    assert res.profile().shape == (3, 4)  # spec, layer, eee, pc_ratio

    (tmp_path / "not-out").mkdir()
    with pytest.raises(BadInputError, match="is not a finished study output"):
        la.load_results(tmp_path / "not-out")
    with pytest.raises(BadInputError, match="does not exist"):
        la.load_results(tmp_path / "nowhere")


def test_load_results_reads_the_analysis_tables(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pd.DataFrame({"spec": ["a"], "layer": [0], "measure": ["eee"], "value": [0.5]}).to_csv(out / "results.csv",
                                                                                          index=False)
    pd.DataFrame({"measure": ["eee"], "pearson_r": [0.9]}).to_csv(out / "correlations.csv", index=False)
    (out / "run.json").write_text("{}")
    res = la.load_results(out)
    assert res.correlations is not None and res.correlations["pearson_r"].iloc[0] == 0.9
    assert list(res.tables()) == ["results", "correlations"]


def test_measure_any_array(rng: np.random.Generator) -> None:
    X = rng.normal(size=(300, 6))
    assert la.measure(X, "mle", k=10) == la.compute("mle", X, k=10)
    with pytest.raises(BadInputError, match=r"mle.k='abc' is not allowed"):
        la.measure(X, "mle", k="abc")
    with pytest.raises(BadInputError, match="did you mean 'eee'"):
        la.measure(X, "EEE")


def test_study_overrides_are_validated(tiny_bert_dir: Path) -> None:
    base = la.Study.preset("quick")
    s = base.override(models=[str(tiny_bert_dir)], measures=["eee"], layers="last", n_sentences=30,
                      corpus="bundled")
    assert s.settings.models == [str(tiny_bert_dir)] and s.settings.measures == ["eee"]
    assert s.settings.layers == "last" and s.settings.corpus.n_sentences == 30
    assert base.settings.models == ["minilm", "minilm@random_init(seed=0)"]  # the original is unchanged
    with pytest.raises(BadInputError, match="unknown measure 'eeee'"):
        base.override(measures=["eeee"])
    with pytest.raises(BadInputError, match="n_sentences"):
        base.override(n_sentences=0)
    moved = base.override(sites=["residual", "attention"], encoding="latin-1")
    assert moved.settings.sites == ["residual", "attention"] and moved.settings.corpus.encoding == "latin-1"
    with pytest.raises(BadInputError, match="site"):
        base.override(sites=["attn"])
    held = la.Study.preset("default").override(models=["minilm", "minilm@shuffle_emb(seed=0)"])
    assert held.settings.analysis.holdout == ["minilm@shuffle_emb(seed=0)"]
