"""Extraction against direct forward passes; the store's cache, resume and corruption handling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from latentatlas.errors import BadInputError
from latentatlas.settings import ExtractionSettings
from latentatlas.store import ActivationStore, extract_hidden_states, word_vectors
from latentatlas.store import store as store_mod


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(tiny_bert_dir).eval(), AutoTokenizer.from_pretrained(tiny_bert_dir)


class CountingModel(torch.nn.Module):
    """Wraps a model, counts forward calls, and can fail after a given number of them."""

    def __init__(self, inner: torch.nn.Module, fail_after: int | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.config = inner.config
        self.calls = 0
        self.fail_after = fail_after

    def forward(self, **kw):  # type: ignore[no-untyped-def]
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        return self.inner(**kw)


def direct(model, tok, sentence: str) -> tuple:  # type: ignore[no-untyped-def]
    enc = tok(sentence, return_tensors="pt", truncation=True, max_length=128)
    with torch.inference_mode():
        return model(**enc, output_hidden_states=True).hidden_states, enc


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_store_equals_direct_forward(tmp_path: Path, tiny, sentences: list[str], dtype: str) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    store = ActivationStore.build_or_open(
        tmp_path, model, tok, sentences, model_key="tiny",
        options=ExtractionSettings(batch_size=3, dtype=dtype), progress=False,
    )
    assert store.layers == [0, 1, 2]
    t = store.tokens
    tol = 1e-5 if dtype == "float32" else 2e-3
    for i, s in enumerate(sentences):
        hs, enc = direct(model, tok, s)
        rows = np.flatnonzero(t["sentence_id"].to_numpy() == i)
        assert list(t["token_id"].to_numpy()[rows]) == enc["input_ids"][0].tolist()
        for layer in store.layers:
            np.testing.assert_allclose(store.layer(layer)[rows], hs[layer][0].numpy(), atol=tol, rtol=tol)
    assert store.n_tokens == sum(len(tok(s)["input_ids"]) for s in sentences)


def test_drop_special_tokens_and_negative_layers(tmp_path: Path, tiny, sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    store = ActivationStore.build_or_open(
        tmp_path, model, tok, sentences, model_key="tiny",
        options=ExtractionSettings(keep_special_tokens=False, dtype="float32"), layers=[-1], progress=False,
    )
    assert store.layers == [2]
    assert not store.tokens["is_special"].any()
    hs, enc = direct(model, tok, sentences[0])
    np.testing.assert_allclose(store.layer(2)[: enc["input_ids"].shape[1] - 2], hs[2][0, 1:-1].numpy(), atol=1e-5)


def test_layer_out_of_range(tmp_path: Path, tiny, sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    with pytest.raises(BadInputError, match=r"valid layers are 0\.\.2"):
        ActivationStore.build_or_open(
            tmp_path, model, tok, sentences, model_key="tiny", options=ExtractionSettings(), layers=[3], progress=False
        )


def test_in_memory_iterator_matches(tiny, sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    got = dict(extract_hidden_states(model, tok, sentences, options=ExtractionSettings(), layers=[1]))
    assert sorted(got) == list(range(len(sentences)))
    hs, _ = direct(model, tok, sentences[4])
    np.testing.assert_allclose(got[4][1], hs[1][0].numpy(), atol=1e-5)


def test_word_vectors(tmp_path: Path, tiny) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    sents = ["Unbelievably tokenization works.", "Short words."]
    store = ActivationStore.build_or_open(
        tmp_path, model, tok, sents, model_key="tiny", options=ExtractionSettings(dtype="float32"), progress=False
    )
    t = store.tokens
    X = store.layer(1)
    for how in ("first", "last", "mean"):
        vecs, index = word_vectors(store, 1, how)
        n_words = sum(len(s.replace(".", " .").split()) for s in sents)
        assert len(index) == n_words == vecs.shape[0]
        for w, row in index.iterrows():
            rows = np.flatnonzero(
                (t["sentence_id"].to_numpy() == row.sentence_id) & (t["word_id"].to_numpy() == row.word_id)
            )
            expected = {"first": X[rows[0]], "last": X[rows[-1]], "mean": X[rows].mean(axis=0)}[how]
            np.testing.assert_allclose(vecs[w], expected, atol=1e-6)
    _, index = word_vectors(store, 1)
    assert index["n_subwords"].max() > 1  # 'unbelievably' and 'tokenization' split into pieces


def test_cached_store_is_reused(tmp_path: Path, tiny, sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    counting = CountingModel(model)
    opts = ExtractionSettings(batch_size=2)
    a = ActivationStore.build_or_open(tmp_path, counting, tok, sentences, model_key="tiny", options=opts, progress=False)
    assert counting.calls == 4
    b = ActivationStore.build_or_open(tmp_path, counting, tok, sentences, model_key="tiny", options=opts, progress=False)
    assert counting.calls == 4 and a.key == b.key
    other = ActivationStore.build_or_open(tmp_path, counting, tok, sentences[:3], model_key="tiny", options=opts, progress=False)
    assert other.key != a.key


def test_interrupted_extraction_resumes(tmp_path: Path, tiny, sentences: list[str], monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    monkeypatch.setattr(store_mod, "BATCHES_PER_SHARD", 1)
    opts = ExtractionSettings(batch_size=2, dtype="float32")
    reference = ActivationStore.build_or_open(tmp_path / "ref", model, tok, sentences, model_key="tiny", options=opts, progress=False)

    failing = CountingModel(model, fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        ActivationStore.build_or_open(tmp_path / "c", failing, tok, sentences, model_key="tiny", options=opts, progress=False)
    acts = tmp_path / "c" / "activations"
    assert not [p for p in acts.iterdir() if p.is_dir() and not p.name.endswith(".partial")]
    (partial,) = [p for p in acts.iterdir() if p.name.endswith(".partial")]
    assert json.loads((partial / "progress.json").read_text())["done"] == [0, 1, 2]

    resumed = CountingModel(model)
    store = ActivationStore.build_or_open(tmp_path / "c", resumed, tok, sentences, model_key="tiny", options=opts, progress=False)
    assert resumed.calls == 1  # only the unfinished fourth shard
    for layer in store.layers:
        np.testing.assert_array_equal(store.layer(layer), reference.layer(layer))
    assert not partial.exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_manifest"])
def test_corrupt_entry_is_rebuilt(tmp_path: Path, tiny, sentences: list[str], damage: str) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    opts = ExtractionSettings(dtype="float32")
    store = ActivationStore.build_or_open(tmp_path, model, tok, sentences, model_key="tiny", options=opts, progress=False)
    good = np.array(store.layer(1))
    f = store.path / "layer_01.npy"
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:-100])
    elif damage == "flip":
        data = bytearray(f.read_bytes())
        data[-50] ^= 0xFF
        f.write_bytes(bytes(data))
    else:
        (store.path / "manifest.json").unlink()
    counting = CountingModel(model)
    rebuilt = ActivationStore.build_or_open(tmp_path, counting, tok, sentences, model_key="tiny", options=opts, progress=False)
    assert counting.calls > 0
    np.testing.assert_array_equal(rebuilt.layer(1), good)


def test_cloud_subsample_is_seeded(tmp_path: Path, tiny, sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    store = ActivationStore.build_or_open(tmp_path, model, tok, sentences, model_key="tiny", progress=False)
    a = store.cloud(1, max_points=20, seed=0)
    assert a.shape == (20, 32) and a.dtype == np.float32
    np.testing.assert_array_equal(a, store.cloud(1, max_points=20, seed=0))
    assert not np.array_equal(a, store.cloud(1, max_points=20, seed=1))
    assert store.cloud(1, drop_special=True).shape[0] == store.n_tokens - 2 * len(sentences)
