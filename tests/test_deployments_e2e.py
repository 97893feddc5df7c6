"""End to end on a real Prefect server: the README's team path, and the one-machine ``ingest serve``.

Team path: a ``prefect server start`` on loopback (its own PREFECT_HOME), the ``ingest`` process work
pool, ``prefect --no-prompt deploy --all --prefect-file deployments/prefect.yaml`` from the project
directory, two workers (one run at a time each), the archive on the real PostgreSQL; a poll and a
backfill triggered with parameters against the demo site at the same time, each run by one worker.
One machine: ``ingest serve`` serving the same deployments (SQLite archive), running a backfill, and
stopping cleanly on SIGTERM with its schedules left active.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ingest.demo.site import demo_config_yaml, demo_manifest
from ingest.store.db import open_archive, read_session
from ingest.store.models import Article, Entry, Run

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_API_URL=f"http://127.0.0.1:{port}/api", PWD=str(REPO),
               # no scheduled runs: a */15 tick would poll config/feeds.yaml (the real feeds) from the
               # project directory in the middle of the test; the tests trigger their own runs
               PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false")
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (home / "server.log").read_text()
            time.sleep(0.5)
        yield env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()


def _run(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _trigger(env: dict[str, str], name: str, **params: str) -> subprocess.Popen[str]:
    args = [str(BIN / "prefect"), "deployment", "run", name, "--watch", "--watch-timeout", "150"]
    for k, v in params.items():
        args += ["--param", f"{k}={v}"]
    return subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finished(proc: subprocess.Popen[str]) -> str:
    """The triggered flow run's id, once it completed."""
    out, _ = proc.communicate(timeout=170)
    assert proc.returncode == 0 and "Flow run finished successfully in 'Completed'" in out, out
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
    assert match, out
    return match.group(1)


def _deployment(env: dict[str, str], name: str) -> dict[str, Any]:
    flow, dep = name.split("/")
    r = httpx.get(f"{env['PREFECT_API_URL']}/deployments/name/{flow}/{dep}", timeout=10)
    r.raise_for_status()
    return r.json()


def test_team_path_two_workers_and_postgresql(prefect_server: dict[str, str], demo_site_running: Any,
                                              postgres_url: str, tmp_path: Path) -> None:
    env = prefect_server
    db = postgres_url
    config = tmp_path / "feeds.yaml"
    config.write_text(demo_config_yaml(demo_site_running.base_url, db), encoding="utf-8")
    archived = [a for a in demo_manifest() if a.expected == "archived"]
    urls = tmp_path / "urls.txt"
    urls.write_text("\n".join(demo_site_running.url(a.path) for a in archived[:5]) + "\n", encoding="utf-8")

    _run(env, "work-pool", "create", "ingest", "--type", "process")
    out = _run(env, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
    assert "Deployment 'poll-feeds/poll-feeds' successfully created" in out
    poll_dep = _deployment(env, "poll-feeds/poll-feeds")
    assert poll_dep["work_pool_name"] == "ingest"
    assert poll_dep["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"], s["parameters"]) for s in poll_dep["schedules"]] == [
        ("*/15 * * * *", "UTC", {"due_only": True})]
    assert _deployment(env, "backfill/backfill")["schedules"] == []

    workers, logs = [], []
    for name in ("worker-a", "worker-b"):  # one run at a time each: runs at once are spread over both
        logs.append(open(tmp_path / f"{name}.log", "wb"))  # noqa: SIM115 - closed below
        workers.append(subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "ingest", "--name", name, "--limit", "1"],
            env=env, cwd=tmp_path, stdout=logs[-1], stderr=subprocess.STDOUT, start_new_session=True))
    try:
        poll = _trigger(env, "poll-feeds/poll-feeds", config_path=str(config))
        backfill = _trigger(env, "backfill/backfill", config_path=str(config), source="demo-world",
                            since="2020-01-01", until="2027-01-01", via=f"urls:{urls}",
                            window_days="366")
        triggered = {_finished(poll), _finished(backfill)}
    finally:
        for worker, log in zip(workers, logs, strict=True):
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(90)  # a worker's own shutdown is not what this test checks; on a loaded
            except subprocess.TimeoutExpired:  # machine it took over 30 s once
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(30)
            log.close()

    engine = open_archive(db)
    with read_session(engine) as s:
        assert s.execute(select(Article.id)).all().__len__() == len(archived)
        runs = Counter((r.kind, r.status, r.prefect_deployment) for r in s.execute(select(Run)).scalars())
        keys = list(s.execute(select(Entry.entry_key).where(Entry.entry_key.like("backfill:%"))).scalars())
    assert runs == {("poll", "completed", "poll-feeds"): 1, ("backfill", "completed", "backfill"): 1}
    assert len(keys) == 5

    # Both workers polled the pool; a run both reached for went to one of them (the server refuses the
    # second claim: "Aborted submission"), so no run was executed twice.
    ran = {}
    for name in ("worker-a", "worker-b"):
        log = (tmp_path / f"{name}.log").read_text(errors="replace")
        assert f"Worker '{name}' started!" in log
        claimed = re.findall(rf"Worker '{name}' submitting flow run '([0-9a-f-]+)'", log)
        ran[name] = [r for r in claimed if f"Aborted submission of flow run '{r}'" not in log]
    assert sorted(ran["worker-a"] + ran["worker-b"]) == sorted(triggered), ran


def test_one_machine_serve(prefect_server: dict[str, str], demo_site_running: Any, tmp_path: Path) -> None:
    env = prefect_server
    db = f"sqlite:///{tmp_path / 'archive.db'}"
    config = tmp_path / "feeds.yaml"
    config.write_text(demo_config_yaml(demo_site_running.base_url, db), encoding="utf-8")
    archived = [a for a in demo_manifest() if a.expected == "archived"]
    urls = tmp_path / "urls.txt"
    engine = open_archive(db)
    # One machine, no worker: `ingest serve` serves the same deployments (from the config) and runs them.
    # (On a shared server, served deployments would replace the worker ones of the same names: delete.)
    for name in ("poll-feeds/poll-feeds", "backfill/backfill"):
        subprocess.run([str(BIN / "prefect"), "deployment", "delete", name], env=env, cwd=REPO,
                       capture_output=True, timeout=120)
    urls.write_text("\n".join(demo_site_running.url(a.path) for a in archived[5:8]) + "\n", encoding="utf-8")
    serve_log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    serve = subprocess.Popen([str(BIN / "ingest"), "serve", "--config", str(config)], env=env, cwd=REPO,
                             stdout=serve_log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "deployments are being served" not in (tmp_path / "serve.log").read_text(errors="replace"):
            assert serve.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        _finished(_trigger(env, "backfill/backfill", config_path=str(config), source="demo-world",
                           since="2020-01-01", until="2026-01-01", via=f"urls:{urls}",
                           window_days="366"))
        served = _deployment(env, "poll-feeds/poll-feeds")
        assert [s["parameters"] for s in served["schedules"]] == [{"due_only": True}]
        # without a server, `ingest serve` materialises the scheduled runs itself (localscheduler.py)
        from ingest.orchestrate.localscheduler import LocalScheduler

        with httpx.Client(timeout=30) as client:
            # (under load the local API can answer a first request with an error: ticks are retried, as
            # serve's own thread retries them; the check is the runs below)
            scheduler, deadline = LocalScheduler(env["PREFECT_API_URL"], ["poll-feeds/poll-feeds"]), time.monotonic() + 60
            while scheduler.tick(client) != 1:
                assert time.monotonic() < deadline, "the served deployment could not be scheduled in 60 s"
                time.sleep(1)
            runs = client.post(f"{env['PREFECT_API_URL']}/flow_runs/filter", json={
                "deployments": {"id": {"any_": [served["id"]]}},
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}).json()
        assert len(runs) >= 4 and {r["parameters"]["due_only"] for r in runs} == {True}  # every 15 min, 1 h
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(60)
        serve_log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()
    assert "ingest serve: stopped" in (tmp_path / "serve.log").read_text()
    assert not _deployment(env, "poll-feeds/poll-feeds")["paused"]  # pause_on_shutdown=False
    with read_session(engine) as s:
        assert len(list(s.execute(select(Entry.entry_key).where(Entry.entry_key.like("backfill:%"))).scalars())) == 3
        assert len(s.execute(select(Run.id).where(Run.kind == "backfill")).all()) == 1
