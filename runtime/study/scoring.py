"""Scores of a pairwise study: win rates per pair and a Bradley-Terry strength per method.

A vote compares two methods ``a`` and ``b`` and says ``a`` won (1), ``b`` won (0) or "same" (0.5):
a tie counts as half a win for each. The Bradley-Terry model says ``a`` beats ``b`` with
probability ``p_a / (p_a + p_b)``; the score of a method is its log strength ``theta = log p``,
centred so the methods' scores average 0 (a difference of 1 means odds of e : 1).

Prior: every pair of methods gets ``prior`` (default 1) virtual game, counted as a tie (half a win
each way), before the votes. This keeps the estimate finite for a method that won (or lost) every
vote and for pairs nobody compared, and pulls scores built on few votes towards 0; with many votes it
hardly matters. The estimate is found by Hunter's MM iteration (2004) on the win matrix.

95% confidence intervals: a bootstrap over votes (votes drawn again with replacement, ``draws``
times, from a generator seeded with ``seed``), the 2.5 and 97.5 percentiles of each method's score.
Votes are resampled one by one: a rater's votes are treated as independent of each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

OUTCOMES = (1.0, 0.0, 0.5)  # a won, b won, same


@dataclass(frozen=True)
class Vote:
    """One vote: methods ``a`` and ``b`` (either order) and ``outcome``: 1 ``a`` won, 0 ``b`` won,
    0.5 "same"."""

    a: str
    b: str
    outcome: float


@dataclass(frozen=True)
class PairStats:
    """The votes on one pair (``a`` before ``b`` in the methods' order)."""

    a: str
    b: str
    votes: int
    a_wins: int
    b_wins: int
    ties: int

    @property
    def a_rate(self) -> float:
        """``a``'s win rate, a tie counting half: (a_wins + ties / 2) / votes (NaN without votes)."""
        return (self.a_wins + self.ties / 2) / self.votes if self.votes else float("nan")


@dataclass(frozen=True)
class MethodScore:
    method: str
    score: float  # Bradley-Terry log strength, methods averaging 0
    low: float  # 95% bootstrap interval
    high: float
    votes: int
    wins: float  # a tie counts half


@dataclass(frozen=True)
class Results:
    methods: tuple[str, ...]
    scores: tuple[MethodScore, ...]  # best first
    pairs: tuple[PairStats, ...]
    votes: int
    prior: float
    draws: int
    seed: int


def _counts(methods: Sequence[str], votes: Sequence[Vote]) -> np.ndarray:
    """(C,) vote counts per category: pair (i < j in ``methods``) x outcome for i (1, 0, 0.5)."""
    index = {m: i for i, m in enumerate(methods)}
    k = len(methods)
    counts = np.zeros((k, k, 3), np.int64)
    for vote in votes:
        i, j, outcome = index[vote.a], index[vote.b], vote.outcome
        if i > j:
            i, j, outcome = j, i, 1.0 - outcome
        counts[i, j, OUTCOMES.index(outcome)] += 1
    return counts.reshape(-1)


def _win_matrices(counts: np.ndarray, k: int) -> np.ndarray:
    """(B, C) category counts -> (B, k, k) win matrices: W[i, j] = wins of i over j (ties half)."""
    per = counts.reshape(-1, k, k, 3).astype(np.float64)
    wins = per[..., 0] + 0.5 * per[..., 2]  # i over j, for i < j
    losses = per[..., 1] + 0.5 * per[..., 2]
    return wins + np.swapaxes(losses, 1, 2)


def bradley_terry(
    wins: np.ndarray, prior: float = 1.0, tol: float = 1e-10, max_iter: int = 10_000
) -> np.ndarray:
    """Log strengths from win matrices: ``wins`` (k, k) or (B, k, k) float, ``wins[i, j]`` = i's
    wins over j (ties counted half each way); returns (k,) or (B, k) scores averaging 0.

    Each off-diagonal pair first gets ``prior`` virtual games split as a tie (see the module's
    docstring); ``prior`` must be > 0 for the estimate to exist in every case. MM updates
    ``p_i = W_i / sum_j n_ij / (p_i + p_j)`` until no log strength moves by more than ``tol``."""
    if prior <= 0:
        raise ValueError(f"prior must be > 0, got {prior}")
    batch = np.asarray(wins, np.float64)
    single = batch.ndim == 2
    batch = batch[None] if single else batch
    k = batch.shape[-1]
    off = 1.0 - np.eye(k)
    w = batch + off * (prior / 2)
    games = w + np.swapaxes(w, 1, 2)  # n_ij, zero on the diagonal
    total = w.sum(axis=2)  # W_i
    log_p = np.zeros(batch.shape[:2])
    for _ in range(max_iter):
        p = np.exp(log_p)
        denominator = (games / (p[:, :, None] + p[:, None, :])).sum(axis=2)
        new = np.log(total / denominator)
        new -= new.mean(axis=1, keepdims=True)
        moved = np.abs(new - log_p).max()
        log_p = new
        if moved < tol:
            break
    return log_p[0] if single else log_p


def pair_stats(methods: Sequence[str], votes: Sequence[Vote]) -> tuple[PairStats, ...]:
    """One entry per pair of ``methods`` that has at least one vote, in the methods' order."""
    counts = _counts(methods, votes).reshape(len(methods), len(methods), 3)
    pairs = []
    for i, a in enumerate(methods):
        for j in range(i + 1, len(methods)):
            a_wins, b_wins, ties = (int(c) for c in counts[i, j])
            if a_wins + b_wins + ties:
                pairs.append(PairStats(a, methods[j], a_wins + b_wins + ties, a_wins, b_wins, ties))
    return tuple(pairs)


def score(
    methods: Sequence[str],
    votes: Sequence[Vote],
    *,
    prior: float = 1.0,
    draws: int = 2000,
    seed: int = 0,
) -> Results:
    """Win rates, Bradley-Terry scores and their bootstrap intervals (module docstring) of
    ``methods`` from ``votes``; a vote naming another method raises ValueError."""
    methods = tuple(methods)
    unknown = {m for v in votes for m in (v.a, v.b)} - set(methods)
    if unknown or any(v.outcome not in OUTCOMES or v.a == v.b for v in votes):
        raise ValueError(f"votes on unknown methods {sorted(unknown)} or with a bad outcome")
    k = len(methods)
    counts = _counts(methods, votes)
    wins = _win_matrices(counts[None], k)[0]
    point = bradley_terry(wins, prior)
    low, high = point.copy(), point.copy()
    if votes and draws > 0:
        rng = np.random.default_rng(seed)
        resampled = rng.multinomial(len(votes), counts / counts.sum(), size=draws)
        boot = bradley_terry(_win_matrices(resampled, k), prior)
        low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    games = wins + wins.T
    unrated = games.sum(axis=1) == 0  # no vote: the interval is unknown, not the point
    low[unrated], high[unrated] = np.nan, np.nan
    scores = [
        MethodScore(
            m,
            float(point[i]),
            float(low[i]),
            float(high[i]),
            round(float(games[i].sum())),
            float(wins[i].sum()),
        )
        for i, m in enumerate(methods)
    ]
    scores.sort(key=lambda s: -s.score)
    return Results(
        methods, tuple(scores), pair_stats(methods, votes), len(votes), prior, draws, seed
    )
