"""Logistic regression whose coefficients keep the direction medicine expects.

v1's unconstrained fit gave systolic pressure and total cholesterol *negative* weights: people
told they have high blood pressure or cholesterol are treated, and treatment lowers the measured
value in the very people who carry the disease. A clinician reading "higher blood pressure
lowers the risk" rightly distrusts the tool. Here each established risk factor's coefficient is
bounded to its known sign (zero allowed), and the L2-penalised log-loss is minimised by
L-BFGS-B (scipy, already installed with scikit-learn) under those bounds.

The estimator follows scikit-learn's conventions (`fit`, `predict_proba`, `coef_`,
`intercept_`), so it replaces `LogisticRegression` inside the SMOTE pipeline unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin

#: Direction of each candidate's effect on risk: +1 raises it, -1 lowers it. Features not named
#: here are left free. Every sign is an established epidemiological direction, not a fit.
EXPECTED_SIGNS: dict[str, int] = {
    "age": 1, "told_high_bp": 1, "systolic_bp": 1, "diastolic_bp": 1,
    "smoked_100_cigarettes": 1, "current_smoker": 1, "serum_creatinine": 1,
    "waist_circumference": 1, "bmi": 1, "told_diabetes": 1, "hba1c": 1,
    "total_cholesterol": 1, "told_high_cholesterol": 1, "family_history_mi": 1, "male": 1,
    "chest_pain_ever": 1, "short_of_breath_on_hill": 1, "general_health": 1,
    "hdl_cholesterol": -1, "income_poverty_ratio": -1,
}


def bounds_for(features: list[str]) -> list[tuple[float | None, float | None]]:
    """L-BFGS-B bounds for the coefficients of `features` (in order)."""
    out = []  # type: list[tuple[float | None, float | None]]
    for name in features:
        sign = EXPECTED_SIGNS.get(name, 0)
        out.append((0.0, None) if sign > 0 else (None, 0.0) if sign < 0 else (None, None))
    return out


class SignConstrainedLogisticRegression(ClassifierMixin, BaseEstimator):
    """L2-penalised logistic regression with per-coefficient sign bounds.

    `signs` holds +1, -1 or 0 (free) per column; `C` is the inverse penalty strength with
    scikit-learn's meaning (loss = C * sum of log-losses + 0.5 * |beta|^2; intercept free).
    """

    def __init__(self, C: float = 1.0, signs: tuple[int, ...] = ()):
        self.C = C
        self.signs = signs

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        n, k = X.shape
        signs = tuple(self.signs) if self.signs else (0,) * k
        if len(signs) != k:
            raise ValueError(f"{len(signs)} signs for {k} columns")
        bounds = [(0.0, None) if s > 0 else (None, 0.0) if s < 0 else (None, None) for s in signs]
        bounds.append((None, None))  # intercept

        def loss_and_gradient(theta):
            beta, b0 = theta[:k], theta[k]
            z = X @ beta + b0
            # log(1 + e^z) - y z, computed stably.
            loss = self.C * float(np.sum(np.logaddexp(0.0, z) - y * z)) + 0.5 * float(beta @ beta)
            residual = self.C * (expit(z) - y)
            grad = np.empty(k + 1)
            grad[:k] = X.T @ residual + beta
            grad[k] = residual.sum()
            return loss, grad

        result = minimize(loss_and_gradient, np.zeros(k + 1), jac=True, method="L-BFGS-B",
                          bounds=bounds, options={"maxiter": 5000, "gtol": 1e-8})
        if not result.success:
            raise RuntimeError(f"sign-constrained fit did not converge: {result.message}")
        self.coef_ = result.x[:k].reshape(1, -1)
        self.intercept_ = np.array([result.x[k]])
        self.classes_ = np.array([0, 1])
        self.n_iter_ = np.array([result.nit])
        return self

    def decision_function(self, X):
        return np.asarray(X, dtype=float) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return (self.decision_function(X) >= 0).astype(int)
