"""Logging while a model trains: ``RunLogger`` (any framework), the Keras callback and
``OverfittingStopping`` (these two import Keras)."""
