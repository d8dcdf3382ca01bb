"""The activation store: token-level hidden states of every layer, extracted once and memory-mapped.

:mod:`.extractor` runs the batched forward passes, :mod:`.sites` reads other places than the residual
stream (attention, mlp, any named module), :mod:`.store` keeps them on disk (content-addressed,
resumable, verified), :func:`open_store` is the one way to get a model's store.
"""

from .extractor import extract_hidden_states, tokenize
from .open import open_store
from .sites import SITE_LAYOUTS, forward_site, site_layers, site_modules
from .store import ActivationStore, store_key, word_vectors

__all__ = [
    "SITE_LAYOUTS", "ActivationStore", "extract_hidden_states", "forward_site", "open_store", "site_layers",
    "site_modules", "store_key", "tokenize", "word_vectors",
]
