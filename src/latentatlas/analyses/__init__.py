"""Analyses beside the study pipeline, each a package with one shape: settings → ``run`` → result → writer.

:mod:`.compare` (layer × layer similarity of two models), :mod:`.concepts` (latent concepts before and after
fine-tuning, Durrani et al. 2022).
"""
