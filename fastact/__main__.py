"""``python -m fastact``: the same as the ``fastact`` command."""
import sys

from .cli import main

sys.exit(main())
