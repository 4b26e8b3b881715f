"""``python -m tbviz`` runs the ``tbviz`` command."""

import sys

from tbviz.cli import main

sys.exit(main())
