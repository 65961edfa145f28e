"""The probability table: 2^INDEX_BITS index bins -> at most 16 calibrated levels.

The encrypted circuit reads the table through a 4-bit segment number, so the 256 bins must be
grouped into at most 16 runs of equal probability. Where the runs break decides how much
ranking survives: v1 merged the closest probability levels, which is harmless with an
isotonic table (already a few flat steps) but, on a smooth calibration, lumps every
low-risk patient — most of the population — into one level.

Here the breaks are chosen by dynamic programming to lose the least AUC on the training split:
merging bins into one level ties their patients, and a positive/negative pair tied that was
ordered before costs half a pair (a pair that was mis-ordered gains half). That cost is additive
over runs, so the best grouping is exact. Breaks sit only at multiples of `BREAK_STEP` bins,
which bounds the level boundaries inside any 16-bin bucket of the index (once a circuit limit,
boundaries_per_bucket, retired with circuit v2; breaks on the grid of 4 still let the circuit
read the table without bootstrapping the index's lowest digit). Each level is the mean
calibrated probability of the training patients in its run (the run's centre when none fall in
it), so the levels stay calibrated.
"""
from __future__ import annotations

import math

import numpy as np

MAX_LEVELS = 16
#: Runs start only at multiples of this many bins: at most 16/BREAK_STEP - 1 boundaries inside
#: any 16-bin bucket (circuit v1 allowed 4; circuit v2 has no such limit). 8 leaves at most
#: one, which lets the encrypted circuit (issue 21) read the table with fewer bootstrappings;
#: on the training split it costs 0.0017 AUC against breaks every 4 bins (in-sample figures,
#: where finer breaks also fit noise).
BREAK_STEP = 4


def bin_probabilities(platt: tuple[float, float], grain_shift: int, offset: int, shift: int,
                      index_bits: int, weight_scale: int) -> list[float]:
    """Calibrated probability at each index bin's centre: sigmoid(a * logit + b)."""
    a, b = platt
    out = []
    for i in range(1 << index_bits):
        centre = ((i + 0.5) * (1 << shift) - offset) * (1 << grain_shift) / weight_scale
        out.append(1.0 / (1.0 + math.exp(-(a * centre + b))))
    return out


def _run_costs(positives: np.ndarray, negatives: np.ndarray, starts: list[int],
               bins: int) -> np.ndarray:
    """cost[a][b]: half pairs lost (net) by giving blocks a..b (of `starts`) one level."""
    step_ends = starts[1:] + [bins]
    m = len(starts)
    cost = np.zeros((m, m))
    for a in range(m):
        p_run = n_run = c = 0.0
        for b in range(a, m):
            for i in range(starts[b], step_ends[b]):
                c += 0.5 * (positives[i] * n_run - negatives[i] * p_run)
                p_run += positives[i]
                n_run += negatives[i]
            cost[a][b] = c
    return cost


def _best_split(cost: np.ndarray, lo: int, hi: int, levels: int) -> tuple[np.ndarray, list]:
    """For blocks lo..hi-1: best total cost with k = 0..levels runs, and the runs' starts."""
    inf = float("inf")
    m = hi - lo
    best = np.full((levels + 1, m + 1), inf)
    choice = np.zeros((levels + 1, m + 1), dtype=int)
    best[0][0] = 0.0
    for k in range(1, levels + 1):
        for end in range(1, m + 1):
            for begin in range(k - 1, end):
                if best[k - 1][begin] == inf:
                    continue
                value = best[k - 1][begin] + cost[lo + begin][lo + end - 1]
                if value < best[k][end]:
                    best[k][end] = value
                    choice[k][end] = begin
    runs_for = []
    for k in range(levels + 1):
        runs, end, kk = [], m, k
        while kk > 0 and best[k][m] < inf:
            begin = int(choice[kk][end])
            runs.append(lo + begin)
            end, kk = begin, kk - 1
        runs_for.append(sorted(runs))
    return best[:, m], runs_for


def best_breaks(positives: np.ndarray, negatives: np.ndarray, levels: int = MAX_LEVELS,
                step: int = BREAK_STEP, forced: int | None = None) -> list[int]:
    """Start bins of at most `levels` runs over the bins (multiples of `step`), minimising the
    AUC lost to ties; with `forced`, a run starts there (the alarm threshold). `positives[i]`,
    `negatives[i]`: training patients of each class in bin i."""
    bins = len(positives)
    starts = list(range(0, bins, step))
    cost = _run_costs(positives, negatives, starts, bins)
    m = len(starts)
    if forced is None:
        totals, runs = _best_split(cost, 0, m, levels)
        k = int(np.argmin(totals))
        return [starts[b] for b in runs[k]]
    cut = starts.index(forced)
    left, left_runs = _best_split(cost, 0, cut, levels - 1)
    right, right_runs = _best_split(cost, cut, m, levels - 1)
    total, k_left = min((left[k] + right[kr], k)
                        for k in range(1, levels) for kr in range(1, levels - k + 1))
    k_right = min(range(1, levels - k_left + 1), key=lambda kr: right[kr])
    return [starts[b] for b in left_runs[k_left] + right_runs[k_right]]


def build_table(bin_probs: list[float], train_index: np.ndarray, train_labels: np.ndarray,
                probability_scale: int, threshold_bin: int | None = None) -> list[int]:
    """The monotone table of at most MAX_LEVELS levels (units of 1/probability_scale); with
    `threshold_bin`, a new level starts exactly there."""
    bins = len(bin_probs)
    positives = np.bincount(train_index[train_labels == 1], minlength=bins)
    negatives = np.bincount(train_index[train_labels == 0], minlength=bins)
    breaks = best_breaks(positives, negatives, forced=threshold_bin) + [bins]
    counts = positives + negatives
    table = []
    for begin, end in zip(breaks, breaks[1:]):
        weight = counts[begin:end]
        probs = np.array(bin_probs[begin:end])
        p = float((probs * weight).sum() / weight.sum()) if weight.sum() else float(probs.mean())
        table.extend([int(round(p * probability_scale))] * (end - begin))
    for i in range(1, len(table)):  # rounding can never break monotonicity, but make sure
        table[i] = max(table[i], table[i - 1])
    return table

