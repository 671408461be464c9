"""Hybrid Recommender Workbench: content + collaborative recommenders for movie and anime catalogs.

The logic lives in this package; notebooks in ``notebooks/`` call it. Modules, one per concept:

- :mod:`workbench.settings`: the one settings object every path comes from.
- :mod:`workbench.storage`: atomic file writes (temp file, then rename).
- :mod:`workbench.data`: dataset registry, fetch, prepare, schema, splits, toy data.
- :mod:`workbench.experiments`: notebook execution through papermill.
- :mod:`workbench.tracking`: MLflow tracking helpers.
- :mod:`workbench.cli`: the ``workbench`` command line.
"""

__version__ = "0.1.0"


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose.

    The message names the problem and, where there is one, the fix. The CLI prints it on one
    line without a traceback.
    """
