"""Activation sites: every site's stored vectors against manual forward hooks on a tiny BERT and a tiny
GPT-2, the block algebra that says what the attention and mlp sites are, pattern sites, store keys, the
study's site column, and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from latentatlas.cli import main
from latentatlas.errors import BadInputError, UnknownNameError
from latentatlas.settings import ExtractionSettings, Study, check_site
from latentatlas.store import ActivationStore, forward_site, site_layers, site_modules, store_key
from latentatlas.store.sites import glob_regex

OPTS = ExtractionSettings(batch_size=3, dtype="float32")


@pytest.fixture(scope="module")
def bert(tiny_bert_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(tiny_bert_dir).eval(), AutoTokenizer.from_pretrained(tiny_bert_dir)


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(tiny_gpt2_dir).eval(), AutoTokenizer.from_pretrained(tiny_gpt2_dir)


def _hooked(model: nn.Module, tok, sentence: str, modules: list[nn.Module]) -> tuple[list[torch.Tensor], tuple]:  # type: ignore[no-untyped-def]
    """One unpadded forward pass: each module's output (first tensor of a tuple) and the hidden states."""
    got: list[torch.Tensor] = []

    def hook(_m: nn.Module, _a: object, out: object) -> None:
        got.append(out[0] if isinstance(out, tuple) else out)  # type: ignore[index]

    handles = [m.register_forward_hook(hook) for m in modules]
    enc = tok(sentence, return_tensors="pt", truncation=True, max_length=128)
    try:
        with torch.no_grad():
            hs = model(**enc, output_hidden_states=True).hidden_states
    finally:
        for h in handles:
            h.remove()
    return [g[0] for g in got], tuple(h[0] for h in hs)


# Manual references: for each model and site, the modules a hand-written hook reads (block order).
BERT_MODULES: dict[str, Callable[[nn.Module], list[nn.Module]]] = {
    "attention": lambda m: [blk.attention.output.dense for blk in m.encoder.layer],
    "mlp": lambda m: [blk.output.dense for blk in m.encoder.layer],
    "module:encoder.layer.*.intermediate": lambda m: [blk.intermediate for blk in m.encoder.layer],
}
GPT2_MODULES: dict[str, Callable[[nn.Module], list[nn.Module]]] = {
    "attention": lambda m: [blk.attn for blk in m.h],
    "mlp": lambda m: [blk.mlp for blk in m.h],
    "module:h.*.mlp.act": lambda m: [blk.mlp.act for blk in m.h],
}


@pytest.mark.parametrize("which", ["bert", "gpt2"])
@pytest.mark.parametrize("site", ["residual", "attention", "mlp", "pattern"])
def test_stored_vectors_equal_manual_hooks(
    request: pytest.FixtureRequest, tmp_path: Path, sentences: list[str], which: str, site: str
) -> None:
    model, tok = request.getfixturevalue(which)
    refs = BERT_MODULES if which == "bert" else GPT2_MODULES
    if site == "pattern":
        site = next(s for s in refs if s.startswith("module:"))
    store = ActivationStore.build_or_open(tmp_path, model, tok, sentences, model_key=which, options=OPTS,
                                          progress=False, site=site)
    n_blocks = model.config.num_hidden_layers
    expected_layers = {"residual": list(range(n_blocks + 1)), "attention": list(range(1, n_blocks + 1)),
                       "mlp": list(range(1, n_blocks + 1))}.get(site, list(range(n_blocks)))
    assert store.site == site and store.layers == expected_layers
    modules = [] if site == "residual" else refs[site](model)
    t = store.tokens
    for i, s in enumerate(sentences):
        outs, hs = _hooked(model, tok, s, modules)
        rows = np.flatnonzero(t["sentence_id"].to_numpy() == i)
        for k, layer in enumerate(store.layers):
            want = (hs[layer] if site == "residual" else outs[k]).numpy()
            np.testing.assert_allclose(store.layer(layer)[rows], want, atol=1e-5, rtol=1e-5)
    if site.startswith("module:"):  # the feed-forward neurons: wider than the stream
        neurons = model.config.intermediate_size if which == "bert" else 4 * model.config.hidden_size
        assert [store.width(layer) for layer in store.layers] == [neurons] * n_blocks
        assert len(store.modules) == n_blocks


def test_gpt2_attention_and_mlp_are_what_each_block_adds_to_the_stream(gpt2, tmp_path: Path, sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Pre-LN GPT-2: h_ℓ = h_{ℓ-1} + attn_ℓ + mlp_ℓ for every block but the last (whose sum gets ln_f)."""
    model, tok = gpt2
    st = {s: ActivationStore.build_or_open(tmp_path, model, tok, sentences, model_key="g", options=OPTS, progress=False,
                                           site=s) for s in ("residual", "attention", "mlp")}
    L = model.config.num_hidden_layers
    for layer in range(1, L):
        np.testing.assert_allclose(
            st["residual"].layer(layer),
            st["residual"].layer(layer - 1) + st["attention"].layer(layer) + st["mlp"].layer(layer), atol=2e-5)
    with torch.no_grad():
        last = model.ln_f(torch.as_tensor(st["residual"].layer(L - 1) + st["attention"].layer(L) + st["mlp"].layer(L)))
    np.testing.assert_allclose(st["residual"].layer(L), last.numpy(), atol=2e-5)


def test_bert_attention_and_mlp_are_the_sub_layer_outputs_before_each_residual_add(bert, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                                  sentences: list[str]) -> None:
    """Post-LN BERT: h_ℓ = LN₂(a + mlp_ℓ) with a = LN₁(h_{ℓ-1} + attn_ℓ)."""
    model, tok = bert
    st = {s: ActivationStore.build_or_open(tmp_path, model, tok, sentences, model_key="b", options=OPTS, progress=False,
                                           site=s) for s in ("residual", "attention", "mlp")}
    for layer in st["attention"].layers:
        blk = model.encoder.layer[layer - 1]
        with torch.no_grad():
            a = blk.attention.output.LayerNorm(torch.as_tensor(st["residual"].layer(layer - 1) + st["attention"].layer(layer)))
            h = blk.output.LayerNorm(a + torch.as_tensor(np.array(st["mlp"].layer(layer))))
        np.testing.assert_allclose(st["residual"].layer(layer), h.numpy(), atol=2e-5)


def test_a_pattern_matching_whole_blocks_gives_the_residual_stream(bert, tmp_path: Path, sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    model, tok = bert
    res = ActivationStore.build_or_open(tmp_path, model, tok, sentences, model_key="b", options=OPTS, progress=False)
    blocks = ActivationStore.build_or_open(tmp_path, model, tok, sentences, model_key="b", options=OPTS, progress=False,
                                           site="module:encoder.layer.*")
    assert blocks.modules == ["encoder.layer.0", "encoder.layer.1"] and blocks.layers == [0, 1]  # * stays in one part
    for k in blocks.layers:
        np.testing.assert_array_equal(blocks.layer(k), res.layer(k + 1))
    assert blocks.key != res.key and blocks.path != res.path


def test_glob_semantics(bert) -> None:  # type: ignore[no-untyped-def]
    model, _ = bert
    names = lambda site: [n for n, _ in site_modules(model, site)]
    assert names("module:encoder.layer.[1].intermediate") == ["encoder.layer.1.intermediate"]
    assert names("module:**.intermediate") == ["encoder.layer.0.intermediate", "encoder.layer.1.intermediate"]
    assert names("module:encoder.layer.?.output") == ["encoder.layer.0.output", "encoder.layer.1.output"]
    assert glob_regex("a.*.b").match("a.x.b") and not glob_regex("a.*.b").match("a.x.y.b")
    assert glob_regex("a.**.b").match("a.x.y.b") and glob_regex("a.[!0]").match("a.1") and not glob_regex("a.[!0]").match("a.0")


@pytest.mark.parametrize("model_type", ["roberta", "electra", "distilbert"])
def test_named_sites_of_other_bert_family_models(model_type: str) -> None:
    from transformers import AutoConfig, AutoModel

    kw = {"dim": 16, "n_layers": 2, "n_heads": 2, "hidden_dim": 32} if model_type == "distilbert" else \
        {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32}
    if model_type == "electra":
        kw["embedding_size"] = 16
    model = AutoModel.from_config(AutoConfig.for_model(model_type, vocab_size=50, **kw)).eval()
    for site in ("attention", "mlp"):
        assert len(site_modules(model, site)) == 2 and site_layers(model, site) == [1, 2]
        out = forward_site(model, [[5, 6, 7], [8, 9]], 0, [1, 2], site)
        assert [tuple(t.shape) for t in out] == [(2, 3, 16), (2, 3, 16)]


def test_residual_store_key_is_unchanged_and_sites_never_collide() -> None:
    opts = ExtractionSettings()
    key = store_key("m", ["one two three four"], opts, [0, 1, 2])
    assert key == "48d3ed6477922f9f54c858a8e0de6218"  # the key before sites existed (caches stay valid)
    keys = {store_key("m", ["one two three four"], opts, [1, 2], s) for s in ("attention", "mlp", "module:x.*")}
    assert len(keys) == 3 and key not in keys
    assert store_key("m", ["one two three four"], opts, [0, 1, 2], "residual") == key


# -- the study ----------------------------------------------------------------------------------------


def test_study_measures_every_site_like_layers(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from latentatlas.pipeline import run_study

    base = {"cache": str(tmp_path / "cache"), "corpus": {"source": "bundled", "n_sentences": 30},
            "models": [str(tiny_bert_dir)], "measures": ["eee", "twonn"], "max_points": 200}
    one = run_study(Study(**base, output=str(tmp_path / "one")), progress=False).results
    many = run_study(Study(**base, sites=["residual", "attention", "module:encoder.layer.*.intermediate"],
                           output=str(tmp_path / "many")), progress=False).results
    assert list(many["site"].unique()) == ["residual", "attention", "module:encoder.layer.*.intermediate"]
    assert (one["site"] == "residual").all()
    pd.testing.assert_frame_equal(many.loc[many["site"] == "residual"].reset_index(drop=True), one)
    assert sorted(many.loc[many["site"] == "attention", "layer"].unique()) == [1, 2]
    assert sorted(many.loc[many["site"].str.startswith("module:"), "layer"].unique()) == [0, 1]
    # a site's cloud is measured like a layer: the value is the measure of the stored, subsampled cloud
    from latentatlas import compute

    run = json.loads((tmp_path / "many" / "run.json").read_text())
    att = run["models"][0]["sites"]["attention"]
    store = ActivationStore.open(tmp_path / "cache" / "activations" / att["store"])
    got = many.loc[(many["site"] == "attention") & (many["layer"] == 2) & (many["measure"] == "eee"), "value"].item()
    assert got == pytest.approx(compute("eee", store.cloud(2, max_points=200, seed=0)), rel=1e-12)
    saved = pd.read_csv(tmp_path / "many" / "results.csv")
    assert "site" in saved.columns and len(saved) == len(many)
    page = (tmp_path / "many" / "report.html").read_text()
    assert f"{tiny_bert_dir.name} [attention]" in page and f"{tiny_bert_dir.name} [module:encoder.layer.*.intermediate]" in page  # a line per site


def test_the_analysis_sees_each_site_as_its_own_predictor() -> None:
    from latentatlas.pipeline.analyse import site_measures

    df = pd.DataFrame({"spec": ["a"] * 3, "site": ["residual", "attention", "module:h.*"], "layer": [1, 1, 0],
                       "measure": ["eee"] * 3, "value": [1.0, 2.0, 3.0]})
    assert list(site_measures(df)["measure"]) == ["eee", "attention/eee", "module:h.*/eee"]
    residual = df.iloc[:1]
    assert site_measures(residual) is residual  # a residual-only table goes to the analysis unchanged


def test_cli_extract_sites(tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-q", "extract", "-m", str(tiny_bert_dir), "--n-sentences", "12", "--cache", str(tmp_path / "c"),
                 "--site", "residual", "--site", "mlp", "--json"])
    out = capsys.readouterr().out
    assert code == 0

    rows = json.loads(out)
    assert [(r["site"], r["layers"]) for r in rows] == [("residual", [0, 1, 2]), ("mlp", [1, 2])]
    assert rows[1]["modules"] == ["encoder.layer.0.output.dense", "encoder.layer.1.output.dense"]


# -- bad input ----------------------------------------------------------------------------------------


def test_unknown_site_names_the_choices() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown activation site 'attn'; did you mean 'attention'"):
        check_site("attn")
    with pytest.raises(BadInputError, match="has no pattern"):
        check_site("module:")
    with pytest.raises(ValueError, match="sites listed twice"):
        Study(sites=["mlp", "mlp"])


def test_a_model_type_without_named_sites_points_to_module_patterns() -> None:
    class Mystery(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = type("C", (), {"model_type": "mystery", "num_hidden_layers": 1})()
            self.lin = nn.Linear(2, 2)

    with pytest.raises(UnknownNameError, match=r"--site module:PATTERN"):
        site_modules(Mystery(), "attention")
    assert [n for n, _ in site_modules(Mystery(), "module:lin")] == ["lin"]


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")}


@pytest.mark.parametrize(("site", "message"), [
    ("attn", "unknown activation site 'attn'; did you mean 'attention'"),
    ("module:decoder.*", "site 'module:decoder.*' matches no module of this BertModel; its module names look like"),
    ("module:pooler", "module 'pooler' outputs shape (1, 32), not one vector per token"),
    ("module:", "site 'module:' has no pattern"),
])
def test_cli_bad_site_exits_2_and_writes_nothing(tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch, site: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text("\n".join(f"The cat number {i} sat on the mat today." for i in range(20)))
    before = _snapshot(tmp_path)
    code = main(["-q", "extract", "-m", str(tiny_bert_dir), "--corpus", "corpus.txt", "--n-sentences", "20",
                 "--cache", "cache", "--site", site])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert _snapshot(tmp_path) == before


def test_study_file_with_a_bad_site_and_attention_at_layer_zero(tmp_path: Path, tiny_bert_dir: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    spec = {"output": str(tmp_path / "out"), "cache": str(tmp_path / "cache"), "models": [str(tiny_bert_dir)],
            "corpus": {"n_sentences": 20}, "measures": ["eee"]}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({**spec, "sites": ["residual", "mlpp"]}))
    assert main(["-q", "run", str(tmp_path / "a.yaml")]) == 2
    assert "is invalid: sites: unknown activation site 'mlpp'; did you mean 'mlp'" in capsys.readouterr().err
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({**spec, "sites": ["attention"], "layers": [0]}))
    assert main(["-q", "run", str(tmp_path / "b.yaml")]) == 2
    assert "site 'attention' has one layer per block (1..2) and no embedding layer" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache" / "activations").exists()
