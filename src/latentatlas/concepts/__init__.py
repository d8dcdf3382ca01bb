"""Latent concepts (Durrani et al. 2022, ConceptX): occurrence sampling, Ward clustering of word
occurrences per layer, concept labels from annotations, and alignment of two models' concepts.

Modules: :mod:`.sample` (which word occurrences are clustered), :mod:`.cluster` (exact Ward in O(n·d)
memory, cut at many K; two-stage for large n), :mod:`.label` (purity-based label alignment),
:mod:`.align` (model-to-model alignment from the contingency table).
"""
