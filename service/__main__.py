"""`python -m service` runs the `skillproof` command."""

from __future__ import annotations

import sys

from service.cli import main

sys.exit(main())
