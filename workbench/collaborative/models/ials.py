"""iALS: implicit alternating least squares (Hu, Koren & Volinsky, ICDM 2008), trained by the
``implicit`` library's CPU solver (conjugate gradient).

Every interaction is a positive with confidence ``1 + alpha * value``; every other item a
negative with confidence 1. Scores are ``user_factors . item_factors``. BLAS runs on one
thread while ``implicit`` parallelises over users, as its authors recommend.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from workbench.collaborative.base import FactorModel, ModelParams
from workbench.collaborative.registry import register


@register
class IALS(FactorModel):
    name = "ials"
    summary = "implicit alternating least squares (Hu et al. 2008), library `implicit`"

    class Params(ModelParams):
        factors: int = Field(64, gt=0)
        """Latent dimensions."""
        regularization: float = Field(0.01, ge=0)
        """L2 penalty on the factors."""
        alpha: float = Field(1.0, gt=0)
        """Confidence of an observed interaction: ``1 + alpha * value``."""
        iterations: int = Field(15, gt=0)
        """Alternating sweeps over users and items."""
        weighting: Literal["binary", "rating"] = "binary"
        """Interaction values: 1 for every rating, or the rating itself."""

    def fit(self, train, validation, context) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        p = self.params
        with threadpool_limits(1, "blas"):  # implicit checks this when the model is created
            model = AlternatingLeastSquares(
                factors=p.factors, regularization=p.regularization, alpha=p.alpha,
                iterations=p.iterations, random_state=context.seed)
            model.fit(train.matrix(p.weighting), show_progress=False,
                      callback=lambda it, *_: context.report(f"iteration {it + 1}/"
                                                             f"{p.iterations}"))
        self.user_factors = np.asarray(model.user_factors, np.float32)
        self.item_factors = np.asarray(model.item_factors, np.float32)
