"""The pure core: metric histories, the overfitting detector, the diagnosis and its words.

Imports numpy only (no TensorFlow, no protobuf, no matplotlib), so a custom
training loop, the tab and the command line all reuse it at no start-up cost.
"""
