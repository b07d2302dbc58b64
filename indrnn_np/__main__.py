"""``python -m indrnn_np <command>``: see :mod:`indrnn_np.cli`.

Ctrl-C while the modules load is noted, not raised: a KeyboardInterrupt
raised inside an extension module's initialisation (NumPy's, say) comes out
as an ImportError with a long message. The note is acted on once the imports
are done: one line, exit status 130 (the shell's convention for SIGINT).
"""

import signal
import sys

_signals = []
signal.signal(signal.SIGINT, lambda signum, frame: _signals.append(signum))
try:
    import numpy  # noqa: F401  (every command needs it; its C initialisation is where a raised interrupt goes wrong)

    from .cli import main
finally:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if _signals:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
try:
    code = main()
except KeyboardInterrupt:  # before the command's own handling
    print("interrupted", file=sys.stderr)
    code = 130
if code == 130:
    # A KeyboardInterrupt that escaped code run through CPython's PyRun_* API while a library loaded
    # (numba's import does) sets the interpreter's "unhandled KeyboardInterrupt" flag even though it was
    # caught above, and the process would then end by SIGINT (status -2) instead of 130. Running an empty
    # statement through the same API clears the flag (CPython resets it before each such run).
    import ctypes

    ctypes.pythonapi.PyRun_SimpleString(b"pass")
sys.exit(code)
