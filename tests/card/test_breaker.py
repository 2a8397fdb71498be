"""The circuit breaker's states, on a clock the test moves."""

from __future__ import annotations

from expsvc.card.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_consecutive_failures_open_it_and_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(3, cooldown=10, clock=Clock())
    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    assert breaker.allow()
    breaker.succeeded()  # the count starts again
    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state is BreakerState.closed
    assert breaker.allow()
    breaker.failed()
    assert breaker.state is BreakerState.open
    assert not breaker.allow()


def test_after_the_cooldown_one_trial_goes_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, cooldown=10, clock=clock)
    breaker.allow()
    breaker.failed()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()  # the trial
    assert breaker.state is BreakerState.half_open
    assert not breaker.allow()  # only one at a time
    breaker.succeeded()
    assert breaker.state is BreakerState.closed
    assert breaker.allow()
    assert breaker.allow()


def test_a_failed_trial_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(5, cooldown=10, clock=clock)
    for _ in range(5):
        breaker.allow()
        breaker.failed()
    clock.now += 10
    assert breaker.allow()
    breaker.failed()
    assert breaker.state is BreakerState.open
    clock.now += 9
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_an_abandoned_trial_lets_another_caller_try() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, cooldown=1, clock=clock)
    breaker.allow()
    breaker.failed()
    clock.now += 1
    assert breaker.allow()
    breaker.abandoned()
    assert breaker.allow()
