"""The batch's thread pool (runcomfy/batch/threads.py): steps run and report like a
ThreadPoolExecutor's; it stays at its floor while the process computes and grows toward its
ceiling only while steps queue and the process mostly waits (a slow network)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import pytest

from runcomfy.batch.threads import AdaptivePool


def test_steps_run_results_and_errors_come_back_and_shutdown_cancels_the_queue():
    pool = AdaptivePool(floor=2, ceiling=2)
    gate = threading.Event()
    try:
        first = [pool.submit(gate.wait, 5) for _ in range(2)]      # both threads held
        queued = pool.submit(lambda: 1)
        assert pool.submit(lambda a, b=0: a + b, 2, b=3) is not None
        boom = pool.submit(lambda: 1 / 0)
        gate.set()
        assert [f.result(5) for f in first] == [True, True]
        assert queued.result(5) == 1
        with pytest.raises(ZeroDivisionError):
            boom.result(5)
        gate.clear()
        held = [pool.submit(gate.wait, 5) for _ in range(2)]
        later = pool.submit(lambda: "never")
    finally:
        gate.set()
        pool.shutdown(wait=True, cancel_futures=True)
    assert all(f.done() for f in held)
    assert later.cancelled() or later.result(1) == "never"
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
    assert len(pool._threads) <= 2


def _wait_rounds(pool, *, rounds: int, until_peak: int | None = None) -> None:
    """Rounds of 12 waiting steps (sleep: no CPU), each round awaited; the pool is shut down after."""
    try:
        for _ in range(rounds):
            fs = [pool.submit(time.sleep, 0.03) for _ in range(12)]
            for f in fs:
                f.result(5)
            if until_peak is not None and pool.peak_allowed == until_peak:
                break
    finally:
        pool.shutdown()


def test_it_grows_while_steps_wait_on_io_and_not_while_the_process_computes():
    # Waiting steps (sleep: no CPU) queued behind a floor of 2 threads: the pool grows.
    io_pool = AdaptivePool(floor=2, ceiling=10, step=4, window=0.02, loadavg=lambda: (0.0, 0.0, 0.0))
    _wait_rounds(io_pool, rounds=10, until_peak=10)              # bounded: 10 rounds of 12 steps
    assert io_pool.peak_allowed == 10 and len(io_pool._threads) <= 10

    # The same waiting steps while the process computes all the time (its CPU clock runs with the
    # wall clock: bound by its own CPU, as against a service that answers at once): more threads
    # would only contend, so it stays at the floor however long the queue.
    cpu_pool = AdaptivePool(floor=2, ceiling=10, step=4, window=0.02, cpu=time.monotonic,
                            loadavg=lambda: (0.0, 0.0, 0.0))
    _wait_rounds(cpu_pool, rounds=4)
    assert cpu_pool.peak_allowed == 2 and len(cpu_pool._threads) <= 2

    # Waiting steps on a machine whose CPUs are all taken by others (load average over the CPU
    # count): the process waits for a CPU, not for the network; more threads would not help.
    busy_pool = AdaptivePool(floor=2, ceiling=10, step=4, window=0.02, loadavg=lambda: (64.0, 64.0, 64.0))
    _wait_rounds(busy_pool, rounds=4)
    assert busy_pool.peak_allowed == 2


def test_asyncio_runs_to_thread_on_it():
    async def main() -> list[int]:
        asyncio.get_running_loop().set_default_executor(AdaptivePool(floor=3, ceiling=3))
        return await asyncio.gather(*(asyncio.to_thread(lambda i=i: i * i) for i in range(20)))
    assert asyncio.run(main()) == [i * i for i in range(20)]


def test_on_a_loop_a_step_comes_back_as_the_loops_own_future():
    """From the event loop a step's result reaches the loop as an asyncio future of that loop (no
    concurrent Future chained to it); errors come back the same way; a step whose awaiting task was
    cancelled before a thread took it never runs; off the loop it is a concurrent Future still."""
    ran: list[str] = []

    async def main():
        loop = asyncio.get_running_loop()
        pool = AdaptivePool(floor=1, ceiling=1)
        loop.set_default_executor(pool)
        gate = threading.Event()
        held = loop.run_in_executor(None, gate.wait, 5)           # the one thread is taken
        assert isinstance(held, asyncio.Future) and held.get_loop() is loop
        assert pool.submit(lambda: 1).__class__ is not concurrent.futures.Future
        dropped = asyncio.ensure_future(asyncio.to_thread(ran.append, "dropped"))
        await asyncio.sleep(0)
        dropped.cancel()
        gate.set()
        assert await held is True
        with pytest.raises(ZeroDivisionError):
            await asyncio.to_thread(lambda: 1 / 0)
        assert await asyncio.to_thread(lambda: ran.append("kept") or 7) == 7
        off_loop = await asyncio.to_thread(pool.submit, lambda: 8)     # submitted from a worker thread
        assert isinstance(off_loop, concurrent.futures.Future) and off_loop.result(5) == 8
        with pytest.raises(asyncio.CancelledError):
            await dropped
    asyncio.run(main())
    assert ran == ["kept"]
