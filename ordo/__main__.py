"""``python -m ordo ...`` and the ``ordo`` command (pyproject's console script): this process's command line."""

import gc
import sys


def main() -> int:
    """Run this process's command line with the cyclic garbage collector paused from the start: importing Ordo
    and opening an app make tens of thousands of objects that live as long as the process, which its collections
    would walk again and again (a third of the imports' time). ``engine.cli.main`` moves them out of its reach
    (``gc.freeze``) and resumes it before the command's own work (see ``cli.common.long_lived``)."""
    gc.disable()
    from ordo.engine.cli import main as command_line

    return command_line(gc_paused=True)


if __name__ == "__main__":
    sys.exit(main())
