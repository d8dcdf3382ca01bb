"""Latent concepts (Durrani et al. 2022, ConceptX): occurrence sampling, Ward clustering of word
occurrences per layer, concept labels from annotations, alignment of two models' concepts, polar
concepts and adversarial triggers.

Modules: :mod:`.sample` (which word occurrences are clustered), :mod:`.cluster` (exact Ward in O(n·d)
memory, cut at many K; two-stage for large n), :mod:`.label` (purity-based label alignment),
:mod:`.align` (model-to-model alignment from the contingency table), :mod:`.polarity` (concepts enriched
in one output class, tested against the prior with FDR control), :mod:`.triggers` (polar words inserted
into inputs of other classes), :mod:`.run` (the whole analysis behind ``latentatlas concepts``).

**θ comparison.** Every threshold θ on a share (label purity, model-to-model overlap, polar purity) is
passed only when the share is *strictly greater* than θ, as in ConceptX's ``align_autotags`` and
``alignClusters.py``: share > θ, never ≥. :func:`.label.exceeds` is that comparison and every module
uses it. (At θ = 0.9 a concept of 10 occurrences thus needs 10 of 10; with concepts of hundreds of
occurrences, the default K of :func:`.cluster.default_k`, the difference is immaterial.)
"""
