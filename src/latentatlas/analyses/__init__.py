"""Analyses beside the study pipeline, each a package with one shape: settings → ``run`` → result → writer.

:mod:`.compare` (layer × layer similarity of two models), :mod:`.concepts` (latent concepts before and after
fine-tuning, Durrani et al. 2022), :mod:`.anchor` (the anchor vector of language-model heads, Wu, Lee & Ge
2023), :mod:`.topology` (local topology features for a token tagger, Ruppik et al. 2024). Each takes its
settings from :mod:`latentatlas.settings`.
"""
