"""The ``tbviz`` command and what it runs: run discovery and the leaderboard, ``compare``
and ``annotate``. No TensorFlow."""
