"""The outbox: the on-disk store-and-forward queue (the "spool" of ``--spool``) that holds every
frame on disk before it is sent. The source package is named apart from the spool *folders* it
manages, which are runtime state and live wherever ``--spool`` points (never in the checkout).

``layout`` is the folder's format, ``store`` the queue itself (:class:`Spool`), ``ledger`` the
record of frames taken in, ``recovery`` what opening a folder after a crash repairs, and
``status`` the snapshot that ``edge-agent status`` reads without locking. The names below are
what the rest of the agent uses.
"""

from edge_agent.outbox.layout import LEDGER, entries_in
from edge_agent.outbox.recovery import SpoolError
from edge_agent.outbox.status import SpoolStatus, inspect
from edge_agent.outbox.store import Spool

__all__ = [
    "LEDGER",
    "Spool",
    "SpoolError",
    "SpoolStatus",
    "entries_in",
    "inspect",
]
