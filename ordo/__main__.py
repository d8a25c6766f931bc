"""``python -m ordo ...``: the same as the ``ordo`` command."""

import sys

from ordo.engine.cli import main

sys.exit(main())
