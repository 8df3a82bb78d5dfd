"""``python -m lucid`` (and ``torchrun -m lucid``) runs the command line."""

import sys

from lucid.cli import main

sys.exit(main())
