"""Model specs, the zoo's loading and caching, and the seeded variants."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from latentatlas.errors import BadInputError, MissingAssetError, UnknownNameError
from latentatlas.models import ModelSpec, fingerprint, load_model
from latentatlas.models.variants import perturbed_parameter_names


@pytest.mark.parametrize(
    "text",
    ["minilm", "minilm@perturb(alpha=10,seed=1)", "minilm@random_init(seed=0)", "minilm@shuffle_emb(seed=3)"],
)
def test_spec_round_trip(text: str) -> None:
    spec = ModelSpec.parse(text)
    assert str(spec) == text and ModelSpec.parse(str(spec)) == spec


def test_spec_defaults_and_seed() -> None:
    spec = ModelSpec.parse("minilm@perturb(alpha=2.5)")
    assert str(spec) == "minilm@perturb(alpha=2.5,seed=0)" and spec.seed == 0
    assert ModelSpec.parse("minilm").seed is None


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("minilm@perturbb(alpha=1)", UnknownNameError, "did you mean 'perturb'"),
        ("minilm@perturb(beta=1)", UnknownNameError, "alpha, seed"),
        ("minilm@perturb()", BadInputError, "needs parameter 'alpha'"),
        ("minilm@perturb(alpha=x)", BadInputError, "must be float"),
        ("minilm@random_init(seed=1.5)", BadInputError, "must be int"),
        ("/no/such/dir", BadInputError, "/no/such/dir"),
        ("bad name!", BadInputError, "neither"),
    ],
)
def test_spec_errors(text: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        ModelSpec.parse(text)


def test_offline_hub_name_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingAssetError, match="pass a local model folder"):
        load_model("not-a-real-org/not-a-real-model-xyz")


def test_perturb_formula_exact(tiny_bert_dir: Path) -> None:
    base = load_model(str(tiny_bert_dir)).model
    pert = load_model(f"{tiny_bert_dir}@perturb(alpha=20,seed=5)").model
    names = perturbed_parameter_names(base)
    assert "encoder.layer.0.attention.output.LayerNorm.weight" in names
    g = torch.Generator().manual_seed(5)
    base_p = dict(base.named_parameters())
    pert_p = dict(pert.named_parameters())
    for name, p in base.named_parameters():
        if name in names:
            eps = torch.randn(p.shape, generator=g)
            torch.testing.assert_close(pert_p[name], 0.8 * p + 0.2 * eps)
        else:  # biases, embeddings and pooler untouched
            torch.testing.assert_close(pert_p[name], base_p[name], rtol=0, atol=0)
    zero = load_model(f"{tiny_bert_dir}@perturb(alpha=0)").model
    for (_, a), (_, b) in zip(base.named_parameters(), zero.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_random_init_variants(tiny_bert_dir: Path) -> None:
    base = load_model(str(tiny_bert_dir)).model
    a = load_model(f"{tiny_bert_dir}@random_init(seed=1)").model
    b = load_model(f"{tiny_bert_dir}@random_init(seed=1)").model
    c = load_model(f"{tiny_bert_dir}@random_init(seed=2)").model
    wa, wb, wc = (m.encoder.layer[0].attention.self.query.weight for m in (a, b, c))
    torch.testing.assert_close(wa, wb, rtol=0, atol=0)
    assert not torch.equal(wa, wc)
    assert not torch.equal(wa, base.encoder.layer[0].attention.self.query.weight)  # fixture used seed 0
    emb = load_model(f"{tiny_bert_dir}@random_init_pretrained_emb(seed=2)").model
    torch.testing.assert_close(emb.get_input_embeddings().weight, base.get_input_embeddings().weight)
    torch.testing.assert_close(
        emb.encoder.layer[0].attention.self.query.weight, wc, rtol=0, atol=0
    )
    assert not emb.training and not a.training


def test_shuffle_emb_is_a_permutation(tiny_bert_dir: Path) -> None:
    base = load_model(str(tiny_bert_dir)).model.get_input_embeddings().weight
    shuffled = load_model(f"{tiny_bert_dir}@shuffle_emb(seed=0)").model.get_input_embeddings().weight
    assert not torch.equal(base, shuffled)
    key = lambda W: sorted(map(tuple, W.detach().numpy().round(6).tolist()))  # noqa: E731
    assert key(base) == key(shuffled)  # same multiset of rows: nothing duplicated or lost


def test_swap_emb(tiny_bert_dir: Path, tmp_path: Path) -> None:
    donor_spec = f"{tiny_bert_dir}@random_init(seed=9)"
    donor = load_model(donor_spec).model.get_input_embeddings().weight
    swapped = load_model(f"{tiny_bert_dir}@swap_emb(source={donor_spec})").model
    torch.testing.assert_close(swapped.get_input_embeddings().weight, donor)
    with pytest.raises(BadInputError, match="vocabulary size and hidden size must match"):
        load_model(f"{tiny_bert_dir}@swap_emb(source=minilm)")


def test_variant_disk_cache(tiny_bert_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spec = f"{tiny_bert_dir}@perturb(alpha=5,seed=1)"
    with caplog.at_level(logging.INFO, logger="latentatlas.models.load"):
        first = load_model(spec, cache_dir=tmp_path)
        second = load_model(spec, cache_dir=tmp_path)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("building variant" in m for m in messages) == 1
    assert sum("loading cached variant" in m for m in messages) == 1
    assert (tmp_path / "models" / first.fingerprint / "config.json").is_file()
    for (_, a), (_, b) in zip(first.model.named_parameters(), second.model.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_fingerprints_distinguish_variants(tiny_bert_dir: Path) -> None:
    d = str(tiny_bert_dir)
    fps = {fingerprint(s) for s in [d, f"{d}@perturb(alpha=1)", f"{d}@perturb(alpha=1,seed=1)", f"{d}@random_init"]}
    assert len(fps) == 4
    assert fingerprint(f"{d}@perturb(alpha=1)") == fingerprint(f"{d}@perturb(alpha=1.0,seed=0)")


def test_fingerprints_distinguish_folders_with_equal_config_and_sizes(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """A retrained copy (same config, same file sizes, other weights) must not share cached activations."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_bert_dir)
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[0, 0] += 1.0
    copy = tmp_path / "copy"
    model.save_pretrained(copy)
    (copy / "config.json").write_text((tiny_bert_dir / "config.json").read_text())
    sizes = {p.suffix: p.stat().st_size for p in copy.iterdir() if p.suffix == ".safetensors"}
    assert sizes == {p.suffix: p.stat().st_size for p in tiny_bert_dir.iterdir() if p.suffix == ".safetensors"}
    assert fingerprint(str(copy)) != fingerprint(str(tiny_bert_dir))


@pytest.mark.integration
def test_bundled_minilm() -> None:
    lm = load_model("minilm")
    assert (lm.num_layers, lm.hidden_size) == (6, 384)
    assert lm.tokenizer("Hello world!")["input_ids"] == [101, 7592, 2088, 999, 102]
