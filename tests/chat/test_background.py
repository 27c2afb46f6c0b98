"""Background work gives way: a job is cancelled by ``pause``, and a background request
by any other request that asks for the backend."""

from __future__ import annotations

import threading

from app.chat.background import IdleJobs
from app.engine.base import GenerationRequest
from app.engine.giving_way import GivingWay


def test_a_paused_job_stops_and_the_jobs_go_idle() -> None:
    jobs = IdleJobs("test-jobs")
    started, stopped = threading.Event(), threading.Event()

    def job(cancel: threading.Event) -> None:
        started.set()
        if cancel.wait(30):
            stopped.set()

    jobs.schedule(1, job)
    assert started.wait(30)
    assert not jobs.wait_idle(0.05)  # running
    jobs.pause()
    assert jobs.wait_idle(30) and stopped.is_set()
    jobs.close()


def test_a_reply_cancels_the_background_requests_and_only_those() -> None:
    way = GivingWay()
    fill, reply = GenerationRequest([1], background=True), GenerationRequest([1])
    way.enter(fill)
    way.enter(GenerationRequest([2], background=True))
    assert not fill.cancel.is_set()  # background requests do not cancel each other
    way.enter(reply)
    assert fill.cancel.is_set() and not reply.cancel.is_set()
    done = GenerationRequest([3], background=True)
    way.leave(fill)
    way.enter(done)
    way.leave(done)
    way.enter(GenerationRequest([4]))
    assert not done.cancel.is_set()  # finished: nothing to cancel
