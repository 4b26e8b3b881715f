"""Train the tutorial's MNIST CNN with tbviz logging: datasets, metrics, model, CLI.

Importing this package is light; Keras is imported by :mod:`tbviz.trainer.model`
and :mod:`tbviz.trainer.training` only.
"""
