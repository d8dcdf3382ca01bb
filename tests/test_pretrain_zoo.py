"""``zoo:OBJECTIVE`` model specs: parsing, on-demand pre-training into the cache, reuse, use everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentatlas.errors import BadInputError, UnknownNameError
from latentatlas.models import ModelSpec, fingerprint, load_model
from latentatlas.pretrain import PretrainSettings
from latentatlas.pretrain.zoo import zoo_folder, zoo_settings

#: a tiny model on 300 bundled sentences: seconds to train
ARGS = ("hidden_size=16,num_layers=1,num_heads=2,intermediate_size=32,seq_len=16,batch_size=4,heldout_blocks=4,"
        "eval_every=2,checkpoint_every=2,steps=4,n_sentences=300")


def test_settings_from_the_spec() -> None:
    assert zoo_settings("zoo:mlm") == PretrainSettings(objective="mlm")
    s = zoo_settings("zoo:first_char(steps=200, seed=3, lr=1e-3)")
    assert (s.objective, s.steps, s.seed, s.lr) == ("first_char", 200, 3, 1e-3)
    assert zoo_folder("zoo:mlm(steps=200)") != zoo_folder("zoo:mlm(steps=201)")
    assert zoo_folder("zoo:mlm(steps=200)", "/c").parent == Path("/c/zoo")
    # variants parse on top of a zoo base, and nothing is trained by parsing
    spec = ModelSpec.parse("zoo:random(steps=5)@perturb(alpha=10,seed=1)")
    assert (spec.base, spec.variant) == ("zoo:random(steps=5)", "perturb")


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("zoo:mlmm", UnknownNameError, "mlm"),
        ("zoo:mlm(stepz=3)", UnknownNameError, "steps"),
        ("zoo:mlm(steps=2.5)", BadInputError, "must be a number"),
        ("zoo:mlm(steps)", BadInputError, "not key=value"),
        ("zoo:mlm(steps=0)", BadInputError, "steps: Input should be greater than or equal to 1"),
        ("zoo:", BadInputError, "zoo:OBJECTIVE"),
    ],
)
def test_bad_zoo_specs(text: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ModelSpec.parse(text)


def test_built_once_then_loaded_and_distinct_per_objective(tmp_path: Path) -> None:
    mlm, rnd = f"zoo:mlm({ARGS})", f"zoo:random({ARGS})"
    lm = load_model(mlm, cache_dir=tmp_path)
    folder = zoo_folder(mlm, tmp_path)
    assert (folder / "pretrain.json").is_file() and (folder / "training_curves.png").is_file()
    assert lm.num_layers == 1 and lm.hidden_size == 16
    stamp = (folder / "pretrain.json").stat().st_mtime_ns
    again = load_model(mlm, cache_dir=tmp_path)
    assert (folder / "pretrain.json").stat().st_mtime_ns == stamp  # reused, not retrained
    assert again.fingerprint == lm.fingerprint
    # same size and settings, other objective: other weights, other fingerprint (no shared activations)
    assert fingerprint(rnd, tmp_path) != lm.fingerprint
    perturbed = load_model(f"{mlm}@perturb(alpha=10,seed=0)", cache_dir=tmp_path)
    assert perturbed.fingerprint != lm.fingerprint


def test_zoo_model_keeps_its_lm_head_for_the_anchor_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from latentatlas.analyses.anchor import load_lm

    monkeypatch.chdir(tmp_path)  # without a cache folder, zoo models go to ./.latentatlas-cache/zoo
    lm = load_lm(f"zoo:first_char({ARGS})")
    assert zoo_folder(f"zoo:first_char({ARGS})").is_dir()
    assert lm.model.config.vocab_size == 30522


def test_checkpoints_of_one_run_are_snapshots_of_that_run(tmp_path: Path) -> None:
    import torch

    from latentatlas.pretrain import bundled_tokenizer, build_model
    from latentatlas.pretrain.zoo import zoo_checkpoint
    from latentatlas.stats.groups import model_group

    final, mid, start = f"zoo:mlm({ARGS})", f"zoo:mlm({ARGS},at=2)", f"zoo:mlm(at=0,{ARGS})"
    assert zoo_checkpoint(final) is None and zoo_checkpoint(f"zoo:mlm({ARGS},at=4)") is None  # at=steps: final
    assert (zoo_checkpoint(mid), zoo_checkpoint(start)) == (2, 0)
    assert zoo_folder(mid) == zoo_folder(final)  # one run, one folder
    assert model_group(mid) == model_group(start) == model_group(final)  # checkpoints of a run: one group
    models = {s: load_model(s, cache_dir=tmp_path) for s in (start, mid, final)}
    assert len({m.fingerprint for m in models.values()}) == 3
    # step 0 is the initialisation the trainer starts from
    init = build_model(zoo_settings(final), bundled_tokenizer()).bert
    got = models[start].model.state_dict()
    assert all(torch.equal(v, got[k]) for k, v in init.state_dict().items() if k in got)


@pytest.mark.parametrize("at", ["3", "5", "-2", "x"])
def test_a_checkpoint_the_run_does_not_save_is_refused(at: str) -> None:
    with pytest.raises(BadInputError, match="at=|must be a number"):
        ModelSpec.parse(f"zoo:mlm({ARGS},at={at})")
