"""Analyses beside the study pipeline, each a package with one shape: settings → ``run`` → result → writer.

:mod:`.compare` (layer × layer similarity of two models).
"""
