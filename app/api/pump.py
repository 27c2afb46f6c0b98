"""Run a synchronous backend stream in one worker thread and hand its events to asyncio.

The whole generation runs in a single thread, token after token, exactly as a direct
call would: hopping threads per token (``iterate_in_threadpool``) lets llama.cpp's
spinning worker threads starve the event loop on a small machine and makes decoding
several times slower.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Generator

import anyio

from app.engine.base import Backend, Finished, GenerationEvent, GenerationRequest

log = logging.getLogger(__name__)


async def pumped_events(
    backend: Backend, generation: GenerationRequest
) -> AsyncGenerator[GenerationEvent, None]:
    """``backend.stream(generation)``'s events, produced in one worker thread.

    The backend's own errors are raised here.  Closing this generator early stops the
    thread at the next event (cancelling this generation if it is mid-step) and waits for it,
    so the backend is free again when the close returns.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[GenerationEvent | None] = asyncio.Queue()
    stop = threading.Event()

    def pump() -> None:
        stream = backend.stream(generation)
        try:
            for event in stream:
                loop.call_soon_threadsafe(queue.put_nowait, event)
                if stop.is_set():
                    break
        finally:
            if isinstance(stream, Generator):
                stream.close()  # runs the stream's ``finally``: the backend's lock is released
            loop.call_soon_threadsafe(queue.put_nowait, None)

    worker = asyncio.ensure_future(anyio.to_thread.run_sync(pump))
    finished = drained = False
    try:
        while (event := await queue.get()) is not None:
            finished = isinstance(event, Finished)
            yield event
        drained = True
        await worker  # the backend's error, if it raised one
    finally:
        stop.set()
        if not worker.done() and not finished:
            generation.cancel.set()
        with anyio.CancelScope(shield=True):
            await asyncio.wait({worker})
        error = None if worker.cancelled() else worker.exception()  # marks it retrieved
        if error is not None and not drained:
            log.info("a generation stopped early ended with: %s", error)
