"""BPR: Bayesian personalised ranking (Rendle et al., UAI 2009), trained by the ``implicit``
library's CPU SGD.

Learns factors so that a user's observed items score above sampled unobserved ones
(pairwise logistic loss). ``implicit`` appends an item bias to the factors. Trained on one
thread: multi-threaded BPR is lock-free SGD, whose result depends on thread timing, and a
seed must reproduce a run.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from workbench.collaborative.base import FactorModel, ModelParams
from workbench.collaborative.registry import register


@register
class BPR(FactorModel):
    name = "bpr"
    summary = "Bayesian personalised ranking (Rendle et al. 2009), library `implicit`"

    class Params(ModelParams):
        factors: int = Field(64, gt=0)
        """Latent dimensions (plus one item bias)."""
        learning_rate: float = Field(0.01, gt=0)
        """SGD step size."""
        regularization: float = Field(0.01, ge=0)
        """L2 penalty on the factors."""
        iterations: int = Field(100, gt=0)
        """Passes over the training interactions."""

    def fit(self, train, validation, context) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from threadpoolctl import threadpool_limits

        p = self.params
        with threadpool_limits(1, "blas"):  # implicit checks this when the model is created
            model = BayesianPersonalizedRanking(
                factors=p.factors, learning_rate=p.learning_rate,
                regularization=p.regularization, iterations=p.iterations,
                random_state=context.seed, num_threads=1)
            model.fit(train.matrix("binary"), show_progress=False,
                      callback=lambda it, *_: context.report(f"iteration {it + 1}/"
                                                             f"{p.iterations}"))
        self.user_factors = np.asarray(model.user_factors, np.float32)
        self.item_factors = np.asarray(model.item_factors, np.float32)
