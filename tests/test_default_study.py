"""The default study (``latentatlas run`` with no arguments) has the power issue 13 asks for, counted with
the library's own definitions of groups and families, without loading a model: at least 20 training
models in at least 10 groups and 2 families, at least 8 held-out models of kinds the fit never saw, and
the measures' own noise measured."""

from __future__ import annotations

from latentatlas.models import ModelSpec
from latentatlas.pipeline.plan import family_of, holdout_specs, load_study, model_specs
from latentatlas.pretrain.zoo import is_zoo, zoo_family, zoo_settings
from latentatlas.stats.groups import family_of_groups, group_codes, model_group


def kind(spec: str) -> str:
    """What sort of model a spec is: its variant (``perturb``, ``random_init``, ...), else the pre-training
    objective of a zoo base (``zoo:mlm``), else ``pretrained``."""
    parsed = ModelSpec.parse(spec)
    if parsed.variant is not None:
        return parsed.variant
    if is_zoo(parsed.base):
        return f"zoo:{zoo_settings(parsed.base).objective}"
    return "pretrained"


def test_default_study_has_power() -> None:
    study = load_study(None, preset="default")
    specs = [str(s) for s in model_specs(study)]
    held = holdout_specs(study)
    train = [s for s in specs if s not in held]
    groups = [model_group(s) for s in train]
    families = [family_of(study, s) for s in train]

    assert len(train) >= 20
    assert len(set(groups)) >= 10
    assert len(set(families)) >= 2
    codes = group_codes(groups, len(train))
    family_of_groups(codes, families, labels=train)  # every group lies inside one family
    # each family has several groups, so within-family statistics and leave-one-group-out have rows
    per_family = {f: {g for g, ff in zip(groups, families) if ff == f} for f in set(families)}
    assert all(len(g) >= 3 for g in per_family.values()), per_family

    assert len(held) >= 8
    seen = {kind(s) for s in train}
    unseen = {s: kind(s) for s in held}
    assert not set(unseen.values()) & seen, unseen
    assert len(set(unseen.values())) >= 7  # every non-standard kind of the issue, not one kind eight times

    # the measures' own noise is measured, on another subsample seed
    assert study.noise_seeds and study.seed not in study.noise_seeds
    assert study.tasks and study.downstream.transferability


def test_zoo_checkpoints_seeds_and_objectives_are_one_family() -> None:
    study = load_study(None, preset="default")
    zoo = [str(s) for s in model_specs(study) if is_zoo(s.base)]
    assert {family_of(study, s) for s in zoo} == {"zoo"}
    assert family_of(study, "minilm@random_init(seed=0)") == "minilm"
    assert zoo_family("zoo:mlm(hidden_size=64,num_heads=2,steps=10,at=0)") == "zoo(hidden_size=64)"
    # but checkpoints of one run are one group, and runs with other seeds other groups
    assert model_group("zoo:mlm(steps=200,checkpoint_every=50,seed=1,at=50)") == \
        model_group("zoo:mlm(at=200,checkpoint_every=50,seed=1,steps=200)")
    assert model_group("zoo:mlm(steps=200,checkpoint_every=50,seed=1)") != \
        model_group("zoo:mlm(steps=200,checkpoint_every=50,seed=2)")
