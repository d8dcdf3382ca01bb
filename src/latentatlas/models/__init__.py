"""Models: spec strings (:mod:`.spec`), loading and fingerprints (:mod:`.load`), seeded variants."""

from .load import (
    LoadedModel,
    base_path,
    check_model_folder,
    check_spec_folders,
    fingerprint,
    forget_loaded_models,
    lazy_model,
    load_model,
)
from .spec import ModelSpec
from .variants import VARIANTS, Variant

__all__ = ["VARIANTS", "LoadedModel", "ModelSpec", "Variant", "base_path", "check_model_folder", "check_spec_folders",
           "fingerprint", "forget_loaded_models", "lazy_model", "load_model"]
