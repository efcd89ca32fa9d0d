"""``python -m rdet_apps`` is the ``rdet`` command."""

import sys

from rdet_apps.cli import main

sys.exit(main())
