"""The alarm threshold: chosen on the calibration split so that recall holds on unseen data.

v1 took the highest table level whose recall on the calibration split was >= 0.95; on the
test split that gave 0.929, because a recall measured on ~80 positives is itself uncertain
(one missed patient moves it by ~0.012). v2 adds a margin measured by bootstrap on the
calibration split only: a level qualifies when recall >= the target in at least
`CONFIDENCE` of the resamples, i.e. the bootstrap's lower `1 - CONFIDENCE` quantile of recall
is still >= the target. The test split plays no part.
"""
from __future__ import annotations

import numpy as np

TARGET_RECALL = 0.95
#: Share of calibration-split bootstrap resamples in which the chosen level keeps the target.
CONFIDENCE = 0.80
RESAMPLES = 2000


def choose_threshold(index_cal: np.ndarray, y_cal: np.ndarray, candidates: list[int],
                     seed: int) -> dict:
    """The highest candidate index bin meeting the bootstrap recall rule, with its figures.

    An alarm is `index >= bin`. Returns the bin, the point recall and specificity on the
    calibration split, the share of resamples that kept the target, and the bin the v1 rule
    (point recall only) would take.
    """
    rng = np.random.default_rng(seed)
    positives = index_cal[y_cal == 1]
    negatives = index_cal[y_cal == 0]
    # Resample the positives (the recall's only source of noise), as many as there are.
    boot = [rng.choice(positives, size=len(positives), replace=True) for _ in range(RESAMPLES)]
    ordered = sorted(set(int(v) for v in candidates))
    chosen, point_rule = ordered[0], ordered[0]
    for at in ordered:
        if (positives >= at).mean() >= TARGET_RECALL:
            point_rule = at
        if np.mean([(b >= at).mean() >= TARGET_RECALL for b in boot]) >= CONFIDENCE:
            chosen = at
    kept = float(np.mean([(b >= chosen).mean() >= TARGET_RECALL for b in boot]))
    return {
        "bin": int(chosen),
        "rule": f"highest bin with recall >= {TARGET_RECALL} in >= {CONFIDENCE:.0%} of "
                f"{RESAMPLES} bootstrap resamples of the calibration split's positives",
        "calibration_recall": float((positives >= chosen).mean()),
        "calibration_specificity": float((negatives < chosen).mean()),
        "resamples_meeting_target": kept,
        "point_rule_bin": int(point_rule),
        "point_rule_specificity": float((negatives < point_rule).mean()),
    }
