"""Every table of named things is a :class:`~latentatlas.registry.Registry`: one way in, one way out, and an
unknown name is a :class:`~latentatlas.errors.UnknownNameError` (a BadInputError) that suggests the close
names, whichever public function it reaches through."""

from __future__ import annotations

import numpy as np
import pytest

from latentatlas.analyses.anchor import (
    CONTEXT_BUILDERS,
    HEAD_KINDS,
    NULL_HEADS,
    null_scores,
)
from latentatlas.analyses.concepts.cluster import QUANTISERS, two_stage
from latentatlas.analyses.concepts.label import LABEL_SETS
from latentatlas.analyses.concepts.polarity import TESTS, polar_concepts
from latentatlas.analyses.concepts.run import ANALYSIS_SPLITS
from latentatlas.analyses.concepts.triggers import POSITIONS, insert_words
from latentatlas.annotate import LAYER_PIPES
from latentatlas.downstream.glue import GLUE_SPECS, SOURCES, load_glue
from latentatlas.downstream.metrics import BASELINES, METRICS
from latentatlas.downstream.offline import OFFLINE_TASKS
from latentatlas.downstream.tasks import TASKS
from latentatlas.downstream.transferability import TRANSFERABILITY
from latentatlas.engine import ENGINES
from latentatlas.errors import BadInputError, UnknownNameError
from latentatlas.measures.registry import MEASURES
from latentatlas.measures.similarity import SIMILARITY
from latentatlas.models import VARIANTS, ModelSpec
from latentatlas.pretrain.data import CORPUS_TRANSFORMS
from latentatlas.pretrain.objectives import OBJECTIVES
from latentatlas.registry import Registry
from latentatlas.store.sites import SITE_LAYOUTS

REGISTRIES = {
    "VARIANTS": VARIANTS, "GLUE_SPECS": GLUE_SPECS, "SOURCES": SOURCES, "LAYER_PIPES": LAYER_PIPES,
    "HEAD_KINDS": HEAD_KINDS, "CONTEXT_BUILDERS": CONTEXT_BUILDERS, "NULL_HEADS": NULL_HEADS,
    "QUANTISERS": QUANTISERS, "POSITIONS": POSITIONS, "TESTS": TESTS, "ANALYSIS_SPLITS": ANALYSIS_SPLITS,
    "LABEL_SETS": LABEL_SETS, "METRICS": METRICS, "TASKS": TASKS, "TRANSFERABILITY": TRANSFERABILITY,
    "ENGINES": ENGINES, "MEASURES": MEASURES, "SIMILARITY": SIMILARITY, "CORPUS_TRANSFORMS": CORPUS_TRANSFORMS,
    "OBJECTIVES": OBJECTIVES, "SITE_LAYOUTS": SITE_LAYOUTS, "OFFLINE_TASKS": OFFLINE_TASKS, "BASELINES": BASELINES,
}


@pytest.mark.parametrize("name", sorted(REGISTRIES))
def test_table_is_a_registry_that_suggests_close_names(name: str) -> None:
    reg = REGISTRIES[name]
    assert isinstance(reg, Registry) and len(reg) >= 2
    first = reg.names()[0]
    assert first in reg and reg[first] is reg.get(first) and next(iter(reg)) == first
    typo = first[:-1] + first[-1] * 2  # "perturb" -> "perturbb"
    with pytest.raises(UnknownNameError) as err:
        reg[typo]
    assert first in err.value.suggestions and f"did you mean {first!r}" in str(err.value)


def test_variant_typo_in_a_model_spec_suggests_the_variant() -> None:
    assert set(VARIANTS) == {"perturb", "random_init", "random_init_pretrained_emb", "shuffle_emb", "swap_emb"}
    assert VARIANTS["perturb"].params["alpha"][0] is float
    with pytest.raises(UnknownNameError, match="did you mean 'perturb'"):
        ModelSpec.parse("minilm@perturbb(alpha=2)")


def test_null_head_typo_suggests_the_null_before_any_work() -> None:
    rng = np.random.default_rng(0)
    F, W, b = rng.normal(size=(40, 4)), rng.normal(size=(9, 4)), np.zeros(9)
    with pytest.raises(UnknownNameError, match="did you mean 'rotation'"):
        null_scores(F, W, b, [0], nulls=("rotation", "rotaton"), n_seeds=1)


def test_position_quantiser_test_and_source_typos_are_bad_input_with_suggestions() -> None:
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(BadInputError, match="did you mean 'prefix'"):
        insert_words("a b", ["c"], position="prefx")
    with pytest.raises(BadInputError, match="did you mean 'sklearn'"):
        two_stage(X, 5, quantiser="sklaern")
    with pytest.raises(BadInputError, match="did you mean 'binomial'"):
        polar_concepts(np.zeros(3, int), np.zeros(3, int), ["a"], words=["w"] * 3, test="binomal")
    with pytest.raises(BadInputError, match="did you mean 'files'.*Sources: auto"):
        load_glue("cola", data_dir=".", source="fils")
