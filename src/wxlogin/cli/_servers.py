"""Run one or more uvicorn servers in this event loop, stopping all on Ctrl-C / SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Generator

import uvicorn


class _QuietServer(uvicorn.Server):
    # uvicorn installs process-wide signal handlers per server; with two servers in one
    # process the second would steal them from the first, so we handle signals ourselves.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_all(
    configs: list[uvicorn.Config], *, on_started: Callable[[], None] | None = None
) -> None:
    """Serve every config until a signal arrives; call ``on_started()`` once all listen."""
    servers = [_QuietServer(config) for config in configs]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            break  # one failed to start (port taken, bad config): stop the others below
        await asyncio.sleep(0.05)
    else:
        if on_started is not None:
            on_started()
    if any(task.done() for task in tasks):
        stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        error = task.exception()
        if error is not None:
            raise error
