"""The portal plus one bare POST route, for side-by-side figures in bench/webhook_receive.py.

With ``BENCH_PROFILE`` set, each gunicorn worker profiles itself (pyinstrument) from its
first request and writes bench/out/<BENCH_PROFILE><pid>.html when it exits.
"""

import atexit
import os

from portal import create_app
from portal.security import csrf_exempt

app = create_app()


@app.post("/_bench/bare")
@csrf_exempt
def bare():
    return {"received": True}


if os.environ.get("BENCH_PROFILE"):
    from pyinstrument import Profiler

    from bench.common import write_profile

    _profiler = Profiler(interval=0.0005)

    @app.before_request
    def _start_profile():
        if not _profiler.is_running:
            _profiler.start()

    def _write_profile():
        if _profiler.is_running:
            _profiler.stop()
            write_profile(_profiler, f"{os.environ['BENCH_PROFILE']}{os.getpid()}")

    atexit.register(_write_profile)
