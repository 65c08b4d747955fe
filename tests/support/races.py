"""The race harness: calls released at the same moment, each from its own thread.

With `app`, each call runs in its own app context, so in its own database session and
connection, and the session is removed afterwards (what it did not commit rolls back).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext

from portal.extensions import db


def at_once(
    calls: Sequence[Callable[[], object]],
    *,
    app=None,
    catch: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> list:
    """Run every call at once; their results in the order given.

    An exception of a `catch` type is that call's result; any other is raised here once
    every thread has ended, so a test never passes on an outcome it did not expect.
    """
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    unexpected: list[BaseException] = []

    def run(index: int, call: Callable[[], object]) -> None:
        with app.app_context() if app is not None else nullcontext():
            try:
                barrier.wait()
                results[index] = call()
            except catch as exc:
                results[index] = exc
            except BaseException as exc:  # noqa: BLE001 - raised in the test's thread below
                unexpected.append(exc)
            finally:
                if app is not None:
                    db.session.remove()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if unexpected:
        raise unexpected[0]
    return results
