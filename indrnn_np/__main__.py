"""``python -m indrnn_np <command>``: see :mod:`indrnn_np.cli`."""

import sys

try:
    from .cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C while the modules load, before the command's own handling
    print("interrupted", file=sys.stderr)
    code = 130
sys.exit(code)
