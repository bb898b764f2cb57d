"""``python -m replayer.prepared WORLD OUT``: the preparing child (see :mod:`.child`)."""

from __future__ import annotations

import sys

from replayer.prepared.child import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
