from __future__ import annotations

import asyncio
import threading

import pytest

from bot.errors import ModelError, QueueFull
from bot.model.backend import GenerationParams, GenerationRequest, Message
from bot.model.runner import ModelRunner
from tests.fakes import ScriptedBackend


def _req(text: str, tokens: int = 10, session: str | None = None, temperature: float = 0.0) -> GenerationRequest:
    return GenerationRequest(
        (Message("user", text),), GenerationParams(max_new_tokens=tokens, temperature=temperature), session=session
    )


def _echo(r: GenerationRequest) -> str:
    return "réponse à " + r.messages[-1].content


async def test_worker_thread_owns_the_model_and_loop_stays_free() -> None:
    backend = ScriptedBackend(_echo, delay=0.2)
    runner = ModelRunner(lambda: backend, max_batch_size=1)
    try:
        task = asyncio.create_task(runner.generate(_req("a")))
        # While the model "works" for 0.2 s the loop keeps ticking.
        ticks = 0
        while not task.done():
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks >= 5
        assert (await task).text == "réponse à a"
        assert backend.threads == {"agora-model"}
        assert threading.current_thread().name not in backend.threads
    finally:
        await runner.close()
    assert backend.closed


async def test_compatible_requests_are_batched_others_are_not() -> None:
    gate = threading.Event()
    backend = ScriptedBackend(_echo)
    runner = ModelRunner(lambda: backend, max_batch_size=3)
    try:
        # Hold the worker so requests pile up behind it.
        blocker = asyncio.create_task(runner.call(lambda b: gate.wait(5)))
        await asyncio.sleep(0.05)
        # Token limits may differ within a batch (each part of a digest has its own); sampling may not.
        tasks = [asyncio.create_task(runner.generate(_req(str(i), tokens=10 + i))) for i in range(4)]
        odd = asyncio.create_task(runner.generate(_req("x", temperature=0.7)))
        await asyncio.sleep(0.05)
        gate.set()
        await blocker
        results = await asyncio.gather(*tasks, odd)
        assert [r.text for r in results] == [f"réponse à {i}" for i in range(4)] + ["réponse à x"]
        sizes = [len(c) for c in backend.calls]
        assert sizes == [3, 1, 1], sizes  # 3 compatible, the 4th alone, the different params alone
        assert runner.stats.max_batch_seen == 3
    finally:
        await runner.close()


async def test_cancelled_request_never_reaches_the_model() -> None:
    gate = threading.Event()
    backend = ScriptedBackend(_echo)
    runner = ModelRunner(lambda: backend, max_batch_size=4)
    try:
        blocker = asyncio.create_task(runner.call(lambda b: gate.wait(5)))
        await asyncio.sleep(0.05)
        doomed = asyncio.create_task(runner.generate(_req("annulé")))
        kept = asyncio.create_task(runner.generate(_req("gardé", tokens=11)))
        await asyncio.sleep(0.05)
        doomed.cancel()
        gate.set()
        await blocker
        assert (await kept).text == "réponse à gardé"
        seen = [r.messages[-1].content for call in backend.calls for r in call]
        assert "annulé" not in seen
        assert runner.stats.dropped_cancelled == 1
    finally:
        await runner.close()


async def test_bounded_queue_refuses_with_queue_full() -> None:
    gate = threading.Event()
    backend = ScriptedBackend(_echo)
    runner = ModelRunner(lambda: backend, queue_size=2)
    try:
        blocker = asyncio.create_task(runner.call(lambda b: gate.wait(5)))
        await asyncio.sleep(0.05)
        waiting = [asyncio.create_task(runner.generate(_req(str(i)))) for i in range(2)]
        await asyncio.sleep(0.02)
        with pytest.raises(QueueFull) as info:
            await runner.generate(_req("trop"))
        assert "attente" in info.value.user_message
        gate.set()
        await blocker
        await asyncio.gather(*waiting)
    finally:
        await runner.close()


async def test_load_failure_is_reported_to_waiters() -> None:
    def broken() -> ScriptedBackend:
        raise OSError("weights missing")

    runner = ModelRunner(broken)
    with pytest.raises(ModelError, match="weights missing"):
        await runner.generate(_req("a"))
    with pytest.raises(ModelError):
        await runner.wait_ready()
    await runner.close()


async def test_backend_error_becomes_model_error_and_runner_survives() -> None:
    def script(r: GenerationRequest) -> str:
        if r.messages[-1].content == "boom":
            raise RuntimeError("CUDA out of memory")
        return "ok"

    runner = ModelRunner(lambda: ScriptedBackend(script), max_batch_size=1)
    try:
        with pytest.raises(ModelError, match="out of memory"):
            await runner.generate(_req("boom"))
        assert (await runner.generate(_req("fine"))).text == "ok"
    finally:
        await runner.close()


async def test_close_fails_queued_requests() -> None:
    gate = threading.Event()
    runner = ModelRunner(lambda: ScriptedBackend(_echo))
    blocker = asyncio.create_task(runner.call(lambda b: gate.wait(5)))
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(runner.generate(_req("a")))
    await asyncio.sleep(0.02)
    closing = asyncio.create_task(runner.close())
    await asyncio.sleep(0.02)
    gate.set()
    await blocker
    await closing
    with pytest.raises(ModelError, match="closed"):
        await queued


async def test_after_a_batch_the_worker_waits_briefly_for_the_others_to_catch_up() -> None:
    gate = threading.Event()
    backend = ScriptedBackend(_echo)
    runner = ModelRunner(lambda: backend, max_batch_size=4, batch_window=0.5)
    try:
        blocker = asyncio.create_task(runner.call(lambda b: gate.wait(5)))
        await asyncio.sleep(0.05)
        pair = [asyncio.create_task(runner.generate(_req(f"a{i}"))) for i in range(2)]
        await asyncio.sleep(0.05)
        gate.set()
        await blocker
        await asyncio.gather(*pair)  # one batch of two: the next turn waits for a partner
        late = asyncio.create_task(runner.generate(_req("b0")))
        await asyncio.sleep(0.1)  # the partner arrives a moment later, inside the window
        later = asyncio.create_task(runner.generate(_req("b1", tokens=20)))
        await asyncio.gather(late, later)
        assert [len(c) for c in backend.calls] == [2, 2]
        # A lone request after a lone batch does not wait.
        solo = ModelRunner(lambda: backend, max_batch_size=4, batch_window=0.5)
        try:
            await solo.generate(_req("c"))
            started = asyncio.get_running_loop().time()
            await solo.generate(_req("d"))
            assert asyncio.get_running_loop().time() - started < 0.4
        finally:
            await solo.close()
    finally:
        await runner.close()
