"""Model zoo (spec string → encoder + tokenizer) and seeded model variants."""

from .variants import VARIANTS, Variant
from .zoo import LoadedModel, ModelSpec, fingerprint, load_model

__all__ = ["VARIANTS", "LoadedModel", "ModelSpec", "Variant", "fingerprint", "load_model"]
