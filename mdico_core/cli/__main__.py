"""``python -m mdico_core.cli``: the ``mdico`` command."""

import sys

from mdico_core.cli import main

sys.exit(main())
