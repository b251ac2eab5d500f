"""Run the edgevoice command line: ``python -m edgevoice``."""

import sys

from edgevoice.cli import main

sys.exit(main())
