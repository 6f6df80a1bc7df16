"""Group commit: every write of the process goes through one thread, many per transaction.

With ``synchronous=FULL`` each SQLite commit costs an fsync (5–10 ms here) and SQLite admits one
writer at a time, so per-request transactions cap ingest near 150 frames/s and make concurrent
writers sleep in SQLite's busy handler (tens of ms each, the p99). Instead, request threads hand
their write as a small function to :class:`GroupWriter`, whose thread runs all jobs that are
waiting in one transaction and one fsync, then wakes every caller. PostgreSQL gains too (one WAL
flush per group). A job that fails makes the group roll back and run again one job per
transaction, so one bad write never fails its neighbours.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
Job = Callable[[Session], object]

MAX_GROUP = 128
log = logging.getLogger(__name__)


class WriterClosed(RuntimeError):
    """The writer has shut down; the write was not attempted."""


class GroupWriter:
    """Runs write jobs from any thread in shared transactions, on one thread of its own."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._jobs: queue.SimpleQueue[tuple[Job, Future] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="db-writer", daemon=True)
        self._thread.start()

    def run(self, job: Callable[[Session], T]) -> T:
        """Run ``job(session)`` inside a transaction; returns once that transaction committed."""
        if self._closed:
            raise WriterClosed("the database writer is shut down")
        future: Future = Future()
        self._jobs.put((job, future))
        return future.result()

    def close(self) -> None:
        """Finish the jobs already handed in, then stop the thread."""
        self._closed = True
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                self._fail_stragglers()
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._jobs.put(None)
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group: list[tuple[Job, Future]]) -> None:
        try:
            with self._sessions.begin() as session:
                results = [job(session) for job, _ in group]
        except Exception as error:  # handed to the waiting caller(s)
            if len(group) == 1:
                group[0][1].set_exception(error)
                return
            log.warning("group of %d writes failed; retrying them one by one", len(group))
            for job, future in group:
                self._commit_alone(job, future)
            return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)

    def _fail_stragglers(self) -> None:
        """Jobs that raced :meth:`close` must not leave their callers waiting forever."""
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].set_exception(WriterClosed("the database writer is shut down"))

    def _commit_alone(self, job: Job, future: Future) -> None:
        try:
            with self._sessions.begin() as session:
                result = job(session)
        except Exception as error:  # handed to the waiting caller(s)
            future.set_exception(error)
        else:
            future.set_result(result)
