import atexit
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

# A suite started in the background by a non-interactive shell (`make test &`) inherits
# SIGINT ignored, and so would the runs it starts: the tests of Ctrl-C need it handled.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# CI runs a fixed, reproducible set of examples; developers' runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# XLA's compiled executables go to a cache folder of this test process (and the CLI runs it
# starts), not the user's own (lwlc/runtime/jax_loop.py _use_xla_cache)
if "LWLC_XLA_CACHE" not in os.environ:
    _xla_cache = tempfile.mkdtemp(prefix="lwlc-test-xla-")
    os.environ["LWLC_XLA_CACHE"] = _xla_cache
    atexit.register(shutil.rmtree, _xla_cache, ignore_errors=True)
