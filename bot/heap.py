"""Keep the garbage collector's full passes short in a long-running bot process (issue 12).

A full (generation 2) collection walks every object the process holds and holds the GIL meanwhile: in
the bot, with Bolt, SQLAlchemy, SkyPilot's client and the Hub client loaded, such a pass took 100-300 ms
under load, and every Slack ack waiting for the GIL waited that long. Objects made while starting up
(modules, classes, the app's wiring) live as long as the process, so once the bot is built they are
moved out of the collector's sight (`gc.freeze`): later full passes walk only what was made since.
Call `settle()` once, after the bot is built and before it serves; never in tests (frozen objects are
never freed, and a test process builds many bots).
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what start-up left behind, then freeze every surviving object out of later collections."""
    gc.collect()
    gc.freeze()
