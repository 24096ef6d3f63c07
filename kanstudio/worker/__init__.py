"""Runs a session off the GUI thread: commands in, events out (design.md §4.4).

No Qt here: the worker is a loop over plain dicts (:mod:`.loop`), the client starts it in a
spawned process or a thread and polls its events (:mod:`.client`). The GUI adapts the
client to Qt with a timer; scripts and tests use it directly.
"""

from kanstudio.worker.client import WorkerClient, collapse_snapshots
from kanstudio.worker.protocol import COMMANDS, EVENTS

__all__ = ["COMMANDS", "EVENTS", "WorkerClient", "collapse_snapshots"]
