"""The on-disk store-and-forward queue: every frame is on disk before it is sent.

``layout`` is the folder's format, ``store`` the queue itself (:class:`Spool`), ``ledger`` the
record of frames taken in, ``recovery`` what opening a folder after a crash repairs, and
``status`` the snapshot that ``edge-agent status`` reads without locking. The names below are
what the rest of the agent uses.
"""

from edge_agent.spool.layout import LEDGER, entries_in
from edge_agent.spool.recovery import SpoolError
from edge_agent.spool.status import SpoolStatus, inspect
from edge_agent.spool.store import Spool

__all__ = [
    "LEDGER",
    "Spool",
    "SpoolError",
    "SpoolStatus",
    "entries_in",
    "inspect",
]
