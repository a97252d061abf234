"""The study's results as HTML (the results page), as JSON and as CSV (the votes), from the
database's rows; no web framework here."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict
from html import escape
from typing import Any

from facert.study.db import VoteRow
from facert.study.scoring import Results, Vote, score

CSV_COLUMNS = (
    "session", "rater", "position", "item", "method_a", "method_b", "choice", "winner",
    "seconds", "created",
)  # fmt: skip
OUTCOME = {"a": 1.0, "b": 0.0, "same": 0.5}


def results_of(methods: tuple[str, ...], rows: list[VoteRow], draws: int = 2000) -> Results:
    """:func:`facert.study.scoring.score` of the votes; methods only older sessions saw are
    added to ``methods``."""
    seen = {m for r in rows for m in (r.method_a, r.method_b)}
    known = tuple(sorted(set(methods) | seen))
    votes = [Vote(r.method_a, r.method_b, OUTCOME[r.choice]) for r in rows]
    return score(known, votes, draws=draws)


def votes_csv(rows: list[VoteRow]) -> str:
    """One line per vote (:data:`CSV_COLUMNS`): ``method_a`` was shown on the left as "A"."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        seconds = "" if r.seconds is None else f"{r.seconds:.3f}"
        writer.writerow(
            (r.session, r.rater, r.position, r.item, r.method_a, r.method_b, r.choice, r.winner,
             seconds, r.created)
        )  # fmt: skip
    return out.getvalue()


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def results_json(results: Results, raters: int) -> dict[str, Any]:
    scores = [
        {**asdict(s), "score": s.score, "low": _finite(s.low), "high": _finite(s.high)}
        for s in results.scores
    ]
    pairs = [{**asdict(p), "a_rate": _finite(p.a_rate)} for p in results.pairs]
    return {
        "votes": results.votes,
        "raters": raters,
        "scores": scores,
        "pairs": pairs,
        "method": {
            "model": "Bradley-Terry, MM iteration; ties count half a win each way",
            "prior": f"{results.prior:g} virtual tie per pair of methods",
            "interval": f"95% bootstrap over votes, {results.draws} draws, seed {results.seed}",
        },
    }


STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;
text-align:right}td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:90%}
"""


def interval_text(low: float, high: float) -> str:
    """ "[low, high]" with signs, or "n/a" (a method without votes)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"[{low:+.2f}, {high:+.2f}]"


def _bars(results: Results) -> list[str]:
    """Per method, an inline SVG of its interval (line), score (dot) and 0 (grey), on one scale."""
    ends = [v for s in results.scores for v in (s.low, s.high, s.score) if math.isfinite(v)]
    low, high = min([*ends, -0.5]), max([*ends, 0.5])

    def x(value: float) -> float:
        return 4 + 192 * (value - low) / (high - low)

    bars = []
    for s in results.scores:
        line = ""
        if math.isfinite(s.low) and math.isfinite(s.high):
            line = f'<line x1="{x(s.low):.1f}" x2="{x(s.high):.1f}" y1="7" y2="7" stroke="#333"/>'
        bars.append(
            f'<svg width="200" height="14" role="img" aria-label="interval">'
            f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="0" y2="14" stroke="#bbb"/>{line}'
            f'<circle cx="{x(s.score):.1f}" cy="7" r="3.5" fill="#c33"/></svg>'
        )
    return bars


def results_html(results: Results, raters: int) -> str:
    """The results page: scores with intervals, win rates per pair, links to the CSV and JSON."""
    score_rows = "".join(
        f"<tr><td>{escape(s.method)}</td><td>{s.score:+.2f}</td><td>{interval_text(s.low, s.high)}"
        f"</td><td>{bar}</td><td>{s.votes}</td><td>{s.wins:g}</td></tr>"
        for s, bar in zip(results.scores, _bars(results), strict=True)
    )
    pair_rows = "".join(
        f"<tr><td>{escape(p.a)} vs {escape(p.b)}</td><td>{p.votes}</td><td>{p.a_wins}</td>"
        f"<td>{p.ties}</td><td>{p.b_wins}</td><td>{100 * p.a_rate:.0f}%</td></tr>"
        for p in results.pairs
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>facert study: results</title><style>{STYLE}</style></head><body>
<h1>Results</h1>
<p id="summary">{results.votes} votes from {raters} rater session{"" if raters == 1 else "s"}.
<a href="votes.csv">Votes (CSV)</a> · <a href="api/results">JSON</a> · <a href="./">Study</a></p>
<h2>Bradley-Terry scores</h2>
<table id="scores"><tr><th>method</th><th>score</th><th>95% interval</th><th></th>
<th>votes</th><th>wins</th></tr>{score_rows}</table>
<p class="note">Score: the log strength of the Bradley-Terry model (methods average 0; a lead
of 1 means winning with odds e : 1), fitted by MM iteration with a tie counted as half a win each
way, after {results.prior:g} virtual tie per pair of methods (keeps an unbeaten method finite).
Interval: 95% bootstrap over votes ({results.draws} draws, seed {results.seed}). Wins: a tie
counts half.</p>
<h2>Pairs</h2>
<table id="pairs"><tr><th>first vs second</th><th>votes</th><th>first won</th><th>same</th>
<th>second won</th><th>first's win rate</th></tr>{pair_rows}</table>
<p class="note">Win rate: (wins + half the ties) / votes. Which method a rater saw on which
side is in the CSV (method_a: left).</p>
</body></html>
"""
