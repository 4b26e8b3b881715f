#!/usr/bin/env python3
"""Train the tutorial's MNIST CNN and log it for TensorBoard. See ``--help``."""

import sys

from tbviz.trainer.cli import main

if __name__ == "__main__":
    sys.exit(main())
