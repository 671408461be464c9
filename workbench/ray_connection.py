"""Connecting this process to a Ray cluster: the one place that starts or joins Ray.

Sweeps (:mod:`workbench.experiments.ray_executor`) and catalog embedding
(:mod:`workbench.content.ray_embedding`) connect through :func:`connect`: an address where
nothing answers is refused in one line (:class:`RayUnavailable`, naming the address and ``ray
start --head``) before anything is written; ``local`` starts a throwaway instance here, with
Ray's token authentication off (``RAY_AUTH_MODE=disabled``). Ray is imported only inside
:func:`connect`, so importing this module costs nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from workbench import WorkbenchError
from workbench.errors import first_line

LOCAL = "local"
"""The address that starts a throwaway Ray instance on this machine (for one sweep, or one
build's embedding)."""
START_CLUSTER = "start one with `ray start --head` (then `--ray HOST:6379`)"


class RayUnavailable(WorkbenchError):
    """The Ray cluster at the given address cannot be used."""


def parse_address(address: str) -> tuple[str, int] | None:
    """The host and port to check before connecting to ``address`` (``HOST:PORT`` or
    ``ray://HOST:PORT``); None for ``local`` and ``auto`` (found by Ray itself)."""
    if address in (LOCAL, "auto"):
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"{address!r} is not a Ray address (HOST:PORT, ray://HOST:PORT, "
                             f"auto or local); {START_CLUSTER}")
    return host.strip("[]"), int(port)


def connect(address: str, cpus: int | None = None) -> bool:
    """Connect this process to the Ray cluster at ``address`` (``local``: start one here
    with ``cpus`` CPUs). Whether this call connected (False: it already was).

    An address where nothing answers is a :class:`RayUnavailable` naming it, at once (Ray
    itself would wait a minute and then print a page); so is one where Ray refuses."""
    check_address(address)
    target = parse_address(address)
    import ray

    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False,
                               "configure_logging": True}
    try:
        if target is None and address == LOCAL:
            # a throwaway instance: no token written to ~/.ray (a later `ray start --head`
            # would find it and turn token auth on for that cluster; docs/cluster.md)
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            ray.init(num_cpus=cpus, include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except Exception as exc:  # ConnectionError, AuthenticationError, version mismatch ...
        first = first_line(exc, type(exc).__name__)
        raise RayUnavailable(f"cannot use the Ray cluster at {address}: {first[:300]}; "
                             f"{START_CLUSTER}") from None
    return True


def check_address(address: str) -> None:
    """Refuse ``address`` in one line (:class:`RayUnavailable`) when it is no Ray address or
    nothing answers there; ``local`` and ``auto`` pass. Ray is not imported."""
    target = parse_address(address)
    if target is not None:
        try:
            socket.create_connection(target, timeout=5).close()
        except OSError as exc:
            raise RayUnavailable(f"no Ray cluster answers at {address} ({exc.strerror or exc})"
                                 f"; {START_CLUSTER}") from None
