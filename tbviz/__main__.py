"""``python -m tbviz`` runs the ``tbviz`` command."""

import sys

from tbviz.commands.cli import main

sys.exit(main())
