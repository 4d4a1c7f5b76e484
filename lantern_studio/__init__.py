"""Lantern Studio: festival music, variations, comic-drama storyboards and benchmarks, offline.

Every module lives under this one package root, named after the distribution (``lantern-studio``), so no
import name of the project can be shadowed by, or shadow, a package installed from the index: a
top-level ``kernels`` or ``tests`` did both (transformers imports the index's ``kernels``; flashy ships
a top-level ``tests``). The design card's layers are the subpackages ``studio`` (Gradio UI) →
``engines`` (models and domain logic) → ``kernels`` (numba array functions), plus ``benchmarks``.
"""
