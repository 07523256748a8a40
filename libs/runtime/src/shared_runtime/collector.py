"""The cyclic garbage collector, paused while a service starts.

Importing the stack and building the app create about 100,000 objects that live as long as the
process. Collecting while they are made traverses them again and again (a tenth of a start's
CPU) and frees next to nothing (a few hundred objects); afterwards every full collection would
traverse them again (8-11 ms each, on the request path). So a service's main pauses collection
before loading what it serves, and `serve` freezes what the start built (moves it out of all
future collections) and resumes collection once the server listens.
"""

from __future__ import annotations

import gc


def pause_during_start() -> None:
    """Call before loading the app; `serve` resumes collection once it listens."""
    gc.disable()


def resume_after_start() -> None:
    gc.freeze()
    gc.enable()
