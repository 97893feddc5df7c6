"""Scheduled runs for ``ingest serve`` without a Prefect server.

Prefect's local (ephemeral) API does not run the server's scheduler service, so the schedules of
served deployments would never produce runs. This thread does that one job: every minute it asks the
API to materialise the next hour of scheduled runs of each served deployment (``POST
/deployments/{id}/schedule``, what the scheduler service calls; idempotent: one run per scheduled
time). With a real server (``PREFECT_API_URL`` set) the server's scheduler does it and this is not used.
"""

from __future__ import annotations

import contextlib
import threading

import httpx

EVERY_S = 60.0
AHEAD_S = 3600


class LocalScheduler:
    def __init__(self, api_url: str, deployment_names: list[str]) -> None:
        self._api = api_url.rstrip("/")
        self._names = deployment_names
        self._ids: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ingest-local-scheduler", daemon=True)

    def start(self) -> LocalScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def tick(self, client: httpx.Client) -> int:
        """Schedule ahead for every served deployment that is registered yet; returns how many."""
        done = 0
        for name in self._names:
            if name not in self._ids:
                r = client.get(f"{self._api}/deployments/name/{name}")
                if r.status_code != 200:
                    continue  # the runner has not registered it yet
                self._ids[name] = r.json()["id"]
            r = client.post(f"{self._api}/deployments/{self._ids[name]}/schedule", json={"min_time": AHEAD_S})
            done += r.status_code < 300
        return done

    def _loop(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                with contextlib.suppress(httpx.HTTPError):  # the API is starting or stopping
                    self.tick(client)
                self._stop.wait(EVERY_S if len(self._ids) == len(self._names) else 2.0)
