"""``python -m indrnn_np <command>``: see :mod:`indrnn_np.cli`."""

import sys

from .cli import main

sys.exit(main())
