"""``python -m app`` is ``parlor``; with no subcommand it serves."""

import sys

from app.cli import main

sys.exit(main())
