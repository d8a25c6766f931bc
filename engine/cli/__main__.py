"""``python -m ordo.engine.cli``: the same as the ``ordo`` command."""

import sys

from . import main

sys.exit(main())
