"""The soak: weeks of scheduled operation of ingest against the simulated world (tests/soakworld.py), in
minutes, with the invariants of tests/soakcheck.py checked after every tick.

Polls run as the scheduled deployment runs them: the tick times are the deployment's own schedules
(:func:`ingest.orchestrate.deployments.schedule_specs`, expanded by Prefect's cron implementation in the configured
time zone, DST included), and each tick runs the library's poll with that schedule's parameters
(``due_only`` for the default one), with the real fetcher, extractor processes and store, on a clock the
soak sets to the tick's time. ``schedulers`` > 1 runs that many scheduler processes at each tick, at
once, against one archive (leases and host slots keep them apart); ``kill_rate`` kills a scheduler with
SIGKILL at a random moment of a tick, and starts a new one for the next tick.

    report = Soak(days=14, database_url="sqlite:///soak.db").run()
    report.violations      # must be []
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from soakcheck import Checker
from soakworld import START, RunningClock, World, WorldServer

from ingest.config import Config, parse_config
from ingest.extract.pages import ExtractorPool
from ingest.orchestrate.deployments import ScheduleSpec, schedule_specs
from ingest.pipeline.poll import poll
from ingest.store.db import open_archive

TESTS = Path(__file__).resolve().parent


def soak_config(world: World, database_url: str, delay_s: float = 0.02) -> Config:
    return parse_config({
        "database": database_url,
        "schedule": "*/15 * * * *",
        "timezone": "Europe/Kyiv",
        "taxonomy": None,
        "poll": {"interval_s": 1800, "min_interval_s": 900, "max_interval_s": 7200, "lease_s": 1800},
        # no waiting inside a run in simulated time: Retry-After always defers to a later poll
        "fetch": {"timeout_s": 10, "retries": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.02,
                  "retry_after_max_s": 0, "per_host_delay_s": delay_s, "per_host_concurrency": 2,
                  "respect_robots": True, "allow_private_networks": True, "max_connections": 8},
        "extract": {"workers": 2},
        "sources": [{"name": name, "feed": world.feed_url(name), **({"schedule": spec.schedule} if spec.schedule else {})}
                    for name, spec in world.sources.items()],
    })


def ticks(config: Config, start: datetime, end: datetime) -> list[tuple[datetime, list[ScheduleSpec]]]:
    """Every scheduled run time in [start, end), with the schedules due then, as Prefect computes them."""
    from prefect.server.schemas.schedules import CronSchedule

    due: dict[datetime, list[ScheduleSpec]] = {}
    for spec in schedule_specs(config):
        schedule = CronSchedule(cron=spec.cron, timezone=spec.timezone)
        after = start
        while after < end:  # Prefect returns at most 1000 dates per call
            dates = asyncio.run(schedule.get_dates(n=1000, start=after, end=end - timedelta(microseconds=1)))
            if not dates:
                break
            for d in dates:  # Prefect's own DateTime type: to a plain aware UTC datetime, whole seconds
                when = datetime.fromtimestamp(round(d.timestamp()), UTC)
                due.setdefault(when, []).append(spec)
            after = datetime.fromtimestamp(round(dates[-1].timestamp()), UTC) + timedelta(seconds=1)
    return sorted(due.items(), key=lambda x: x[0])


@dataclass
class SoakReport:
    days: int
    backend: str
    schedulers: int
    ticks: int = 0
    polls: int = 0  # source polls (a source polled by one run)
    runs: int = 0
    stories_published: int = 0
    edits_published: int = 0
    deletions_published: int = 0
    faults_injected: int = 0
    kills: int = 0
    requests: int = 0
    archive: dict[str, Any] = field(default_factory=dict)
    min_start_gap_ms: float | None = None  # between request starts on one host (per_host_delay_s: 20 ms)
    min_arrival_gap_ms: float | None = None
    wall_s: float = 0.0
    ms_per_tick: float = 0.0
    violations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Soak:
    def __init__(self, days: int, database_url: str, *, seed: int = 7, rate: float = 1.0, schedulers: int = 1,
                 kill_rate: float = 0.0, delay_s: float | None = None, progress: Any = None,
                 stop_after: int | None = None) -> None:
        self.days, self.database_url, self.seed, self.rate = days, database_url, seed, rate
        # per-host spacing: judged on time stamps that carry scheduling noise (soakcheck.SPACING_SLACK),
        # which grows with the processes competing for two cores: wider with several schedulers
        self.delay_s = delay_s if delay_s is not None else (0.02 if schedulers == 1 else 0.04)
        self.schedulers, self.kill_rate = schedulers, kill_rate
        self.stop_after = stop_after  # ticks (a shorter look at a long run's world)
        self.progress = progress

    def run(self) -> SoakReport:
        t0 = time.monotonic()
        world = World(self.days, self.seed, self.rate)
        clock = RunningClock(START, create=True)
        report = SoakReport(self.days, self.database_url.split(":", 1)[0], self.schedulers,
                            stories_published=len(world.stories),
                            edits_published=sum(len(s.versions) - 1 for s in world.stories.values()),
                            deletions_published=sum(s.deleted_at is not None for s in world.stories.values()),
                            faults_injected=world.faults_injected())
        try:
            self._run(world, clock, report)
        finally:
            clock.close(unlink=True)
        report.wall_s = round(time.monotonic() - t0, 1)
        report.ms_per_tick = round(report.wall_s * 1000 / max(report.ticks, 1), 1)
        return report

    def _run(self, world: World, clock: RunningClock, report: SoakReport) -> None:
        t0 = time.monotonic()
        with WorldServer(world, clock) as server:
            config = soak_config(world, self.database_url, self.delay_s)
            engine = open_archive(self.database_url)
            checker = Checker(world, engine, config)
            plan = ticks(config, START, world.end)
            runner = (InProcess(config, engine, world, clock, self.seed) if self.schedulers == 1 and not self.kill_rate
                      else Processes(self, world, clock))
            rng = random.Random(self.seed + 1)
            try:
                for n, (t, specs) in enumerate(plan):
                    clock.set(t)
                    killed = runner.tick(t, specs, rng)
                    report.kills += killed
                    report.polls += runner.polls
                    report.runs += len(specs) * self.schedulers
                    server.drain()
                    seen = len(checker.violations)
                    checker.after_tick(t, {name: any(_covers(sp, name) for sp in specs) for name in world.sources},
                                       killed=bool(killed))
                    if self.progress:
                        for violation in checker.violations[seen:]:
                            self.progress(f"VIOLATION {violation}")
                    if self.stop_after is not None and n + 1 >= self.stop_after:
                        break
                    if self.progress and (n + 1 == len(plan) or plan[n + 1][0].date() != t.date()):
                        self.progress(f"{t:%Y-%m-%d} (day {(t - START).days + 1} of {self.days}): tick {n + 1} of "
                                      f"{len(plan)}, {len(checker.violations)} violations, "
                                      f"{time.monotonic() - t0:.0f} s")
            finally:
                runner.close()
            report.ticks = len(plan)
            report.archive = checker.final(checker.ticks[-1] + timedelta(minutes=15) if checker.ticks else START)
            report.violations = checker.violations
            report.requests = len(world.log)
            report.min_start_gap_ms = _ms(checker.min_start_gap_s)
            report.min_arrival_gap_ms = _ms(checker.min_arrival_gap_s)
            engine.dispose()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _covers(spec: ScheduleSpec, name: str) -> bool:
    names = spec.parameters.get("sources")
    return names is None or name in names


class InProcess:
    """One scheduler: the poll runs in this process, one after another as the schedule says."""

    def __init__(self, config: Config, engine: Any, world: World, clock: RunningClock, seed: int) -> None:
        self.config, self.engine, self.world, self.clock = config, engine, world, clock
        self.pool = ExtractorPool(config.extract)
        self.pool.start()
        self.rng = random.Random(seed)
        self.polls = 0

    def tick(self, t: datetime, specs: list[ScheduleSpec], rng: random.Random) -> int:
        self.polls = 0
        for spec in specs:
            summary = poll(self.config, self.engine, sources=spec.parameters.get("sources"),
                           due_only=spec.parameters["due_only"], clock=self.clock, extractor=self.pool,
                           resolver=self.world.resolve, rng=self.rng)
            self.polls += len(summary["sources"])
        return 0

    def close(self) -> None:
        self.pool.close()


class Processes:
    """Several schedulers in processes of their own (tests/soakrun.py --worker), all told each tick at
    once; with ``kill_rate``, one of them is killed with SIGKILL at a random moment of a tick."""

    def __init__(self, soak: Soak, world: World, clock: RunningClock) -> None:
        self.soak, self.world, self.clock = soak, world, clock
        self.workers = [self._start(i) for i in range(soak.schedulers)]
        self.polls = 0

    def _start(self, i: int) -> subprocess.Popen[str]:
        args = [sys.executable, str(Path(__file__)), "--worker", json.dumps({
            "days": self.soak.days, "seed": self.soak.seed, "rate": self.soak.rate, "port": self.world.port,
            "db": self.soak.database_url, "id": i, "clock": self.clock.shared_name, "delay": self.soak.delay_s})]
        # The worker runs this tree's code, whatever the interpreter has installed (bench/soak.py may run
        # from a copy while the working tree changes).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(TESTS.parent / "src"), str(TESTS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                cwd=TESTS.parent, start_new_session=True, env=env)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        return proc

    def tick(self, t: datetime, specs: list[ScheduleSpec], rng: random.Random) -> int:
        message = json.dumps({"t": t.isoformat(), "specs": [s.parameters for s in specs]}) + "\n"
        for w in self.workers:
            assert w.stdin is not None
            w.stdin.write(message)
        victim = rng.randrange(len(self.workers)) if rng.random() < self.soak.kill_rate else None
        if victim is not None:
            time.sleep(rng.uniform(0.0, 1.5))
        self.polls, killed = 0, 0
        for i, w in enumerate(self.workers):
            if i == victim and w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)  # the scheduler and its extractor processes
                w.wait()
                self.workers[i] = self._start(i)
                killed = 1
                continue
            assert w.stdout is not None
            line = w.stdout.readline()
            if not line:
                raise RuntimeError(f"scheduler {i} died")
            self.polls += int(line)
        return killed

    def close(self) -> None:
        for w in self.workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
                w.wait(30)


def worker(spec: dict[str, Any]) -> None:
    """A scheduler process: rebuilds the world from its seed (for DNS, which says when a host is down),
    then runs each tick it is told on stdin, and answers with the number of sources it polled."""
    world = World(spec["days"], spec["seed"], spec["rate"])
    world.port = spec["port"]
    clock = RunningClock(START, spec["clock"])  # the soak's clock, which the driver sets for each tick
    world.clock = clock
    config = soak_config(world, spec["db"], spec["delay"])
    engine = open_archive(spec["db"])
    pool = ExtractorPool(config.extract)
    pool.start()
    rng = random.Random(spec["seed"] * 100 + spec["id"])
    print("ready", flush=True)
    for line in sys.stdin:
        message = json.loads(line)
        polled = 0
        for params in message["specs"]:
            summary = poll(config, engine, sources=params.get("sources"), due_only=params["due_only"], clock=clock,
                           extractor=pool, resolver=world.resolve, rng=rng)
            polled += sum(r["feed_status"] != "skipped" for r in summary["sources"])
        print(polled, flush=True)


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    worker(json.loads(sys.argv[2]))
