"""Allow `python -m wxlogin.cli`."""

import sys

from wxlogin.cli import main

sys.exit(main())
