"""Miniature pre-training zoo: small BERT masked LMs trained on the bundled corpus with the objectives
studied by Alajrami & Aletras (2022) and Sinha et al. (2021)."""

from ..bundled import bundled_tokenizer
from ..settings import PretrainSettings
from .data import CORPUS_TRANSFORMS, pack_blocks, shuffle_corpus, shuffle_sentence
from .objectives import OBJECTIVES, Objective, corrupt
from .trainer import build_model, load_summary, pretrain

__all__ = [
    "CORPUS_TRANSFORMS", "OBJECTIVES", "Objective", "PretrainSettings", "build_model", "bundled_tokenizer", "corrupt",
    "load_summary", "pack_blocks", "pretrain", "shuffle_corpus", "shuffle_sentence",
]
