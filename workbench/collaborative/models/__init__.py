"""The built-in collaborative models, one module each; importing this package registers them.

- :mod:`.popularity`: training interaction counts (implicit) or damped item means (explicit).
- :mod:`.itemknn`: item-based nearest neighbours (cosine with shrinkage).
- :mod:`.ease`: EASE, the closed-form shallow autoencoder (Steck, 2019).
- :mod:`.sansa`: SANSA, sparse approximate EASE (Spišák et al., 2023), ``sansa``: where
  EASE's dense item-item matrix does not fit.
- :mod:`.ials`: implicit alternating least squares (Hu, Koren & Volinsky, 2008), ``implicit``.
- :mod:`.bpr`: Bayesian personalised ranking (Rendle et al., 2009), ``implicit``.
- :mod:`.ncf`: MF, GMF, MLP and NeuMF in Keras (He et al., 2017).
- :mod:`.multvae`: Mult-VAE, the variational autoencoder with a multinomial likelihood
  (Liang et al., 2018), Keras.
- :mod:`.sasrec`: SASRec, self-attentive sequential recommendation in Keras (Kang & McAuley,
  2018); needs timestamps.
- :mod:`.content_knn`: items nearest in content to the user's items (content only).
- :mod:`.blend`: a weighted sum of member models; EASE + item-kNN + content kNN is the
  content-aware model.
"""

# imported in this order: the order `workbench collaborative models` lists them
from workbench.collaborative.models import popularity  # noqa: I001, F401
from workbench.collaborative.models import itemknn, ease, sansa, ials, bpr, ncf  # noqa: F401
from workbench.collaborative.models import multvae  # noqa: F401
from workbench.collaborative.models import content_knn, blend  # noqa: F401
from workbench.collaborative.models import sasrec  # noqa: F401
