"""Work done on one background thread while nothing else runs, giving way to replies.

Jobs are keyed (a newer job with the same key, such as one chat's, replaces the queued one);
:meth:`IdleJobs.pause` cancels the job under way and drops the queue, so a reply that
starts never waits for more than the abort; :meth:`IdleJobs.wait_idle` waits until
nothing is queued or running.  Long-term memory's ``SummaryWorker`` and the group
chats' idle prefill each run on one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable

log = logging.getLogger(__name__)

#: ``job(cancel)``: does its work, stopping soon once ``cancel`` is set.
Job = Callable[[threading.Event], object]


class IdleJobs:
    """Runs keyed jobs one at a time on a thread of its own (started on first use)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: dict[Hashable, Job] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._cancel = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def schedule(self, key: Hashable, job: Job) -> None:
        """Run ``job`` when the thread is free (replacing ``key``'s queued one)."""
        with self._lock:
            if self._closed:
                return
            self._queue[key] = job
            self._cancel = threading.Event()
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._wake.set()

    def pause(self) -> None:
        """Something more urgent starts: cancel the job under way, drop the queue."""
        with self._lock:
            self._cancel.set()
            self._queue.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is queued or running; False on timeout."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Stop the thread (the job under way is cancelled)."""
        with self._lock:
            self._closed = True
            self._cancel.set()
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                self._wake.clear()
                if self._closed or not self._queue:
                    self._idle.set()
                    if self._closed:
                        return
                    continue
                _key, job = self._queue.popitem()
                cancel = self._cancel
            try:
                job(cancel)
            except Exception:  # a background job must not die: log, and go on
                log.exception("background job %s failed", self._name)
            self._wake.set()


class BackgroundWorker:
    """A worker whose jobs run on an :class:`IdleJobs` thread of its own."""

    def __init__(self, jobs: IdleJobs) -> None:
        self._jobs = jobs

    def run_idle(self, key: Hashable, job: Job) -> None:
        """Run ``job`` on the worker's thread when it is free (replacing ``key``'s queued
        one); a reply starting cancels it as it cancels the worker's own jobs."""
        self._jobs.schedule(key, job)

    def pause(self) -> None:
        """A reply is starting: cancel the job under way (it is done again later)."""
        self._jobs.pause()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is queued or running; False on timeout."""
        return self._jobs.wait_idle(timeout)

    def close(self) -> None:
        """Stop the thread (the job under way is cancelled)."""
        self._jobs.close()
