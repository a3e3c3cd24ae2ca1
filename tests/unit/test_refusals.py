"""The Art. 16(3) rule as a pure function: counted, breaking and neutral outcomes, the window."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from core.refusals import BREAKING, COUNTED, Outcome, OutcomeKind, evaluate

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
K = OutcomeKind


def seq(*kinds: OutcomeKind, gap_days: int = 10) -> list[Outcome]:
    return [Outcome(i + 1, T0 + timedelta(days=i * gap_days), k) for i, k in enumerate(kinds)]


def fires(outcomes: list[Outcome], limit: int = 3, window: int = 365) -> bool:
    return evaluate(outcomes, limit=limit, window_days=window).fired


def test_three_unjustified_in_a_row_fire_with_their_evidence() -> None:
    v = evaluate(seq(K.DECLINED_UNJUSTIFIED, K.NO_ANSWER, K.NO_SHOW), limit=3, window_days=365)
    assert v.fired and v.invitation_ids == (1, 2, 3)


def test_every_unjustified_kind_counts() -> None:
    for kind in COUNTED:
        assert fires(seq(kind, kind, kind))


def test_served_or_justified_breaks_the_streak() -> None:
    for breaker in BREAKING:
        assert not fires(seq(K.NO_ANSWER, K.NO_ANSWER, breaker, K.NO_ANSWER, K.NO_ANSWER))


def test_recusal_and_closed_are_skipped() -> None:
    v = evaluate(seq(K.NO_ANSWER, K.CONFLICT, K.NO_ANSWER, K.CLOSED, K.DECLINED_UNJUSTIFIED), limit=3, window_days=365)
    assert v.fired and v.invitation_ids == (1, 3, 5)
    assert not fires(seq(K.CONFLICT, K.CONFLICT, K.CONFLICT))


def test_window_is_first_to_last_of_the_latest_three() -> None:
    assert fires(seq(K.NO_ANSWER, K.NO_ANSWER, K.NO_ANSWER, gap_days=182))  # 364 days
    assert not fires(seq(K.NO_ANSWER, K.NO_ANSWER, K.NO_ANSWER, gap_days=183))  # 366 days
    # Only the latest `limit` refusals matter: days 0, 200, 400 span 400; 200, 400, 500 span 300.
    late = seq(K.NO_ANSWER, K.NO_ANSWER, K.NO_ANSWER, gap_days=200) + [
        Outcome(9, T0 + timedelta(days=500), K.NO_ANSWER)]
    assert fires(late)
    assert not fires(late[:3])


def test_order_is_by_time_not_by_input() -> None:
    outcomes = seq(K.NO_ANSWER, K.NO_ANSWER, K.ACCEPTED_SERVED, K.NO_ANSWER)
    assert not fires(list(reversed(outcomes)))
    assert not fires(outcomes)


@given(st.lists(st.tuples(st.sampled_from(list(OutcomeKind)), st.integers(0, 2000)), max_size=25),
       st.integers(1, 5), st.integers(1, 800))
def test_fires_iff_a_trailing_run_fits_the_window(items: list[tuple[OutcomeKind, int]], limit: int, window: int) -> None:
    outcomes = [Outcome(i, T0 + timedelta(days=d), k) for i, (k, d) in enumerate(items)]
    v = evaluate(outcomes, limit=limit, window_days=window)
    ordered = sorted(outcomes, key=lambda o: (o.when, o.invitation_id))
    run: list[Outcome] = []
    for o in ordered:
        if o.kind in BREAKING:
            run = []
        elif o.kind in COUNTED:
            run.append(o)
    expected = len(run) >= limit and run[-1].when - run[-limit].when <= timedelta(days=window)
    assert v.fired == expected
    if v.fired:
        assert len(v.streak) == limit and all(o.kind in COUNTED for o in v.streak)
        assert v.streak[-1] == run[-1]
    else:
        assert v.streak == ()
