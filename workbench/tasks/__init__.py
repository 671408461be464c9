"""Jobs: one module per job, each a function taking one typed task config (and settings) that
builds or trains, evaluates, logs to MLflow and registers, and returns a result object.
Notebooks, the CLI and sweeps call these; they hold no logic of their own.

- :mod:`workbench.tasks.collaborative`: train and evaluate one collaborative model
  (notebook 03, ``workbench collaborative train``, tuning trials).
- :mod:`workbench.tasks.hybrid`: choose the hybrid's alpha on validation, report it on test
  (notebook 04).
"""
