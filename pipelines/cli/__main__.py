"""``python -m pipelines.cli``: the ``tfx-keras`` command."""

import sys

from pipelines.cli import main

sys.exit(main())
