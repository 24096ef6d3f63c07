"""Runs a session off the GUI thread: commands in, events out (design.md §4.4).

No Qt here. Commands and events are typed messages (:mod:`.commands`, :mod:`.events`,
gathered in :mod:`.protocol`) that cross the process boundary as plain dicts; one dispatch
table routes each command to its handler
(:mod:`.handlers`); training, Discover and the long edits are one kind of step-by-step
:class:`~.runs.Run` (:mod:`.runs`); the worker's loop (:mod:`.loop`) reads commands and
advances the run between them. The client starts the loop in a spawned process or a thread
and polls its events (:mod:`.client`). The GUI adapts the client to Qt with a timer;
scripts and tests use it directly.
"""

from kanstudio.worker.client import WorkerClient, collapse_snapshots
from kanstudio.worker.protocol import COMMAND_TYPES, EVENTS, command, parse_command

__all__ = ["COMMAND_TYPES", "EVENTS", "WorkerClient", "collapse_snapshots", "command",
           "parse_command"]
