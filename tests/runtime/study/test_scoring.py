"""Bradley-Terry scores and win rates of facert.study.scoring on win matrices with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facert.study.scoring import Vote, bradley_terry, pair_stats, score


def votes(a: str, b: str, a_wins: int, b_wins: int, ties: int = 0) -> list[Vote]:
    return [Vote(a, b, 1.0)] * a_wins + [Vote(b, a, 1.0)] * b_wins + [Vote(a, b, 0.5)] * ties


def test_two_methods_match_the_closed_form() -> None:
    # With two methods the regularised MLE is p_x / p_y = (x's wins + ties/2 + prior/2) / (y's
    # ...): the MM iteration stops when no score moves by 1e-10, so 1e-8 is ample.
    results = score(["x", "y"], votes("x", "y", 7, 2, ties=3))
    by = {s.method: s for s in results.scores}
    assert by["x"].score - by["y"].score == pytest.approx(math.log(9.0 / 4.0), abs=1e-8)
    assert by["x"].score == pytest.approx(-by["y"].score, abs=1e-12)  # centred on 0
    assert by["x"].wins == 8.5 and by["y"].wins == 3.5 and by["x"].votes == 12
    (pair,) = results.pairs
    assert (pair.a, pair.b, pair.votes, pair.a_wins, pair.b_wins, pair.ties) == (
        "x",
        "y",
        12,
        7,
        2,
        3,
    )
    assert pair.a_rate == pytest.approx(8.5 / 12)


def test_recovers_known_strengths_in_order() -> None:
    true = np.array([1.0, 0.3, 0.0, -1.3])  # centred log strengths
    wins = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            if i != j:
                wins[i, j] = 400 / (1 + math.exp(true[j] - true[i]))  # expected wins of 400 games
    estimate = bradley_terry(wins)
    assert list(np.argsort(-estimate)) == [0, 1, 2, 3]
    # Expected counts recover the truth but for the prior (1 virtual tie in 400 games per pair
    # pulls each score towards 0 by under 1%): within 0.02.
    assert np.abs(estimate - true).max() < 0.02
    assert np.abs(estimate).max() < np.abs(true).max()  # shrunk, not inflated


def test_estimate_is_a_stationary_point_of_the_regularised_likelihood() -> None:
    rng = np.random.default_rng(3)
    wins = rng.integers(0, 20, (5, 5)).astype(float)
    np.fill_diagonal(wins, 0)
    theta = bradley_terry(wins, prior=1.0)
    w = wins + (1 - np.eye(5)) * 0.5
    games = w + w.T
    p = np.exp(theta)
    gradient = w.sum(1) - (games * p[:, None] / (p[:, None] + p[None, :])).sum(1)
    assert np.abs(gradient).max() < 1e-6  # MM converged to 1e-10 in log strength
    assert theta.mean() == pytest.approx(0, abs=1e-12)


def test_unbeaten_method_stays_finite_and_ties_are_even() -> None:
    unbeaten = score(["x", "y"], votes("x", "y", 10, 0))
    top = unbeaten.scores[0]
    assert top.method == "x" and math.isfinite(top.score) and math.isfinite(top.high)
    assert 2 * top.score == pytest.approx(math.log(10.5 / 0.5), abs=1e-8)
    even = score(["x", "y", "z"], votes("x", "y", 0, 0, ties=6) + votes("y", "z", 0, 0, ties=6))
    assert all(abs(s.score) < 1e-9 for s in even.scores)
    assert all(p.a_rate == 0.5 for p in even.pairs)
    half = score(["x", "y"], votes("x", "y", 3, 3))  # wins both ways = ties, for the scores
    assert [s.score for s in half.scores] == pytest.approx([0, 0], abs=1e-9)


def test_side_of_a_vote_does_not_matter() -> None:
    forward = score(["x", "y", "z"], votes("x", "y", 5, 2, 1) + votes("y", "z", 4, 4, 2))
    swapped = [Vote(v.b, v.a, 1 - v.outcome) for v in votes("x", "y", 5, 2, 1)]
    swapped += [Vote(v.b, v.a, 1 - v.outcome) for v in votes("y", "z", 4, 4, 2)]
    backward = score(["x", "y", "z"], swapped)
    assert forward.scores == backward.scores and forward.pairs == backward.pairs


def test_bootstrap_interval_covers_the_truth_and_narrows_with_votes() -> None:
    true = {"a": 0.8, "b": 0.0, "c": -0.8}
    rng = np.random.default_rng(11)
    widths = []
    for games in (30, 300):
        cast = []
        for a, b in (("a", "b"), ("b", "c"), ("a", "c")):
            p = 1 / (1 + math.exp(true[b] - true[a]))
            for _ in range(games):
                u = rng.random()
                cast.append(Vote(a, b, 0.5 if u > 0.9 else float(u < 0.9 * p)))
        results = score(list(true), cast, draws=1000, seed=0)
        for s in results.scores:
            assert s.low <= s.score <= s.high
            # A 95% interval misses now and then; this seed's draws are fixed, and every truth is
            # inside (the check would fail for a wrong centre or a collapsed interval).
            assert s.low <= true[s.method] <= s.high, (games, s)
        widths.append(max(s.high - s.low for s in results.scores))
    assert widths[1] < 0.5 * widths[0]  # ~1/sqrt(10) of the width with 10x the votes
    again = score(list(true), cast, draws=1000, seed=0)
    assert again == results  # fixed seed: the same intervals


def test_method_without_votes_and_bad_votes() -> None:
    results = score(["x", "y", "z"], votes("x", "y", 3, 1))
    z = next(s for s in results.scores if s.method == "z")
    assert z.votes == 0 and math.isnan(z.low) and math.isnan(z.high)
    assert [p.b for p in pair_stats(["x", "y", "z"], votes("x", "y", 3, 1))] == ["y"]
    with pytest.raises(ValueError, match="unknown methods"):
        score(["x", "y"], [Vote("x", "q", 1.0)])
    with pytest.raises(ValueError, match="prior"):
        bradley_terry(np.zeros((2, 2)), prior=0)
