"""Process-wide resources shared by flow runs, and loading flows from ``flows/``.

The extractor pool is expensive to start (each worker imports trafilatura), so one pool serves every
flow run of a process; its processes start when a run first has pages to extract (a re-poll that finds
nothing new never starts them). Flows live in
``flows/`` (outside the library, which never imports them); they are loaded by entry point, the way
Prefect workers load them.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.config import ExtractSettings
from ingest.errors import ConfigError
from ingest.extract.pages import ExtractorPool

FLOWS_DIR_ENV = "INGEST_FLOWS_DIR"
_lock = threading.Lock()
_pool: ExtractorPool | None = None
_pool_settings: ExtractSettings | None = None


def shared_extractor(settings: ExtractSettings) -> ExtractorPool:
    """The process's extractor pool for these settings (a new one when the settings differ)."""
    global _pool, _pool_settings
    with _lock:
        if _pool is not None and _pool_settings != settings:
            _pool.close()
            _pool = None
        if _pool is None:
            _pool = ExtractorPool(settings)  # its processes start with the first pages to extract
            _pool_settings = settings
            atexit.register(close_shared_extractor)
        return _pool


def close_shared_extractor() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.close()
            _pool = None


EPHEMERAL_STARTUP_TIMEOUT_S = 180


def prestart_prefect_api() -> Callable[[], None]:
    """Start Prefect's ephemeral API server in the background (it takes seconds) while the caller does
    its own start-up; the returned function waits for it. Nothing to do when PREFECT_API_URL is set.

    The flow must not run before the wait: Prefect marks the server as running before it answers."""
    # The first start of the local API migrates its database: ~20 s, far more on a loaded machine;
    # Prefect's default wait (20 s) made `ingest poll` fail there.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(EPHEMERAL_STARTUP_TIMEOUT_S))
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return lambda: None
    from prefect.server.api.server import SubprocessASGIServer

    errors: list[BaseException] = []

    def start() -> None:
        try:
            SubprocessASGIServer().start()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the waiter
            errors.append(exc)

    thread = threading.Thread(target=start, name="prefect-ephemeral-api", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if errors:
            if isinstance(errors[0], RuntimeError) and "Timed out" in str(errors[0]):
                raise ConfigError(
                    f"Prefect's local API server did not start within "
                    f"{os.environ['PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS']} s (a busy machine?): set "
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher, or PREFECT_API_URL to a running "
                    "Prefect server, or run without --prefect") from None
            raise errors[0]

    return wait


def flows_dir() -> Path:
    """``$INGEST_FLOWS_DIR``, else ``flows/`` of the source checkout this package runs from."""
    env = os.environ.get(FLOWS_DIR_ENV)
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[3] / "flows", Path.cwd() / "flows"]
    for candidate in candidates:
        if (candidate / "poll.py").is_file():
            return candidate
    raise ConfigError(f"cannot find the flows/ folder (looked in {', '.join(map(str, candidates))}); "
                      f"set {FLOWS_DIR_ENV}")


def load_flow(name: str, function: str) -> Any:
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(f"{flows_dir() / (name + '.py')}:{function}", use_placeholder_flow=False)
