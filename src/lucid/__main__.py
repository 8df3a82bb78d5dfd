"""``python -m lucid`` (and ``torchrun -m lucid``) runs the command line."""

from lucid.cli import run

run()
