"""MLflow "models from code" entry of the served hybrid (see :mod:`workbench.serving`): MLflow
copies this file into the model and runs it at load, so no Python object is pickled."""

import mlflow

from workbench.serving import HybridModel

mlflow.models.set_model(HybridModel())
