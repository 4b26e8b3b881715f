"""Figures drawn with matplotlib's object API (Agg, no pyplot state): the run's
comparison figure, the cross-run figures, and the renderer that draws off the
training thread within a time budget."""
