"""The activation store: token-level hidden states of every layer, extracted once and memory-mapped.

:mod:`.extractor` runs the batched forward passes, :mod:`.store` keeps them on disk (content-addressed,
resumable, verified), :func:`open_store` is the one way to get a model's store.
"""

from .extractor import extract_hidden_states, tokenize
from .open import open_store
from .store import ActivationStore, store_key, word_vectors

__all__ = ["ActivationStore", "extract_hidden_states", "open_store", "store_key", "tokenize", "word_vectors"]
