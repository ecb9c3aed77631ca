"""The Matrix bot alone in a process, for tests that kill it: `python -m tests.matrix.bot_process CONFIG DELAY`.

Like `agora run` with Matrix enabled, but the model is the echo backend sleeping DELAY seconds per turn,
so that a digest is still being written when the test sends `kill -9`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from bot.app import Agora
from bot.config import load_config
from bot.core.bot import BotCore
from bot.model.echo_backend import EchoBackend
from bot.model.runner import ModelRunner
from bot.platforms.matrix import MatrixPlatform


async def main(config_path: str, delay: float) -> None:
    config = load_config(config_path)
    runner = ModelRunner(lambda: EchoBackend(delay=delay), max_batch_size=4, queue_size=64)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Agora(config, runner=runner) as app:
        platform = MatrixPlatform(config.matrix, BotCore(app), config.data_path)
        app.start_model()
        task = asyncio.create_task(platform.run())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        stopper.cancel()
        with contextlib.suppress(BaseException):
            await task
        await platform.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("bot").setLevel(logging.DEBUG)
    logging.getLogger("nio").setLevel(logging.WARNING)
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
