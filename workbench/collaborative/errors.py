"""The collaborative engine's error (its own module so that the registry and the base class,
which import each other's names, both import it from below)."""

from workbench import WorkbenchError


class CollaborativeError(WorkbenchError):
    """Bad input to, or a missing/corrupt artifact of, the collaborative engine."""
