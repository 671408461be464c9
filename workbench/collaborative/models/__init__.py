"""The built-in collaborative models, one module each; importing this package registers them.

- :mod:`.popularity`: training interaction counts (implicit) or damped item means (explicit).
- :mod:`.itemknn`: item-based nearest neighbours (cosine with shrinkage).
- :mod:`.ease`: EASE, the closed-form shallow autoencoder (Steck, 2019).
- :mod:`.ials`: implicit alternating least squares (Hu, Koren & Volinsky, 2008), ``implicit``.
- :mod:`.bpr`: Bayesian personalised ranking (Rendle et al., 2009), ``implicit``.
- :mod:`.ncf`: MF, GMF, MLP and NeuMF in Keras (He et al., 2017).
- :mod:`.content_knn`: items nearest in content to the user's items (content only).
- :mod:`.blend`: a weighted sum of member models; EASE + item-kNN + content kNN is the
  content-aware model.
"""

from importlib import import_module

BUILTIN = ("popularity", "itemknn", "ease", "ials", "bpr", "ncf", "content_knn", "blend")
"""Modules of the built-in models, imported in this order (the order models are listed)."""

for _module in BUILTIN:
    import_module(f"{__name__}.{_module}")
