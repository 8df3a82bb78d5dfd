"""When lucid was first imported: for the ``lucid`` command, its start, before torch loads.

``lucid train --time-budget`` counts from here, so that loading torch and torchvision (seconds
on a warm disk, much longer on a cold one) is part of the minutes the user gave. Kept free of
other imports so that ``lucid/__init__.py`` can import it first.
"""

from __future__ import annotations

import time

IMPORTED = time.perf_counter()  # a time.perf_counter() reading
