import random

from runcomfy.api import QUEUED, RUNNING
from runcomfy.run.polling import PollPolicy


def simulate(policy, job_length):
    """Status calls and notice delay for a job that runs `job_length` seconds."""
    t, calls = 0.0, 0
    while True:
        calls += 1
        if t >= job_length:
            return calls, t - job_length
        t += policy.interval(RUNNING, t, None)


def test_fast_start_and_cap():
    p = PollPolicy(jitter=0)
    assert p.interval(RUNNING, 0, None) == p.first
    assert p.interval(RUNNING, 10_000, None) == p.cap


def test_queue_position_slows_polling_but_bounded():
    p = PollPolicy(jitter=0)
    assert p.interval(QUEUED, 0, 5) > p.interval(QUEUED, 0, 1)
    assert p.interval(QUEUED, 0, 1000) == p.queued_cap


def test_budget_for_a_120s_job_and_notice_delays():
    p = PollPolicy(rng=random.Random(7))
    calls, _ = simulate(p, 120.0)
    assert calls <= 155
    short = sorted(simulate(p, 2 + i * 0.37)[1] for i in range(23))
    assert short[len(short) // 2] < 0.3
    long = sorted(simulate(p, 60 + i * 2.7)[1] for i in range(23))
    assert long[len(long) // 2] < 0.6


def test_jitter_spreads_intervals():
    p = PollPolicy(rng=random.Random(1))
    values = {round(p.interval(RUNNING, 30, None), 4) for _ in range(20)}
    assert len(values) > 10
