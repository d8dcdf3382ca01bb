"""Extraction of token-level hidden states and the on-disk activation store."""

from .extractor import ExtractionOptions, ExtractionSettings, extract_hidden_states, tokenize
from .store import ActivationStore, store_key, word_vectors

__all__ = ["ActivationStore", "ExtractionOptions", "ExtractionSettings", "extract_hidden_states", "store_key", "tokenize", "word_vectors"]
