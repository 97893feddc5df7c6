"""retry_lost_races: a write transaction rolled back because another run held the lock (SQLite) or
deadlocked with it (PostgreSQL) is run again; other database errors are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from ingest.store.retry import is_lost_race, retry_lost_races


def test_a_locked_sqlite_write_is_retried_until_the_other_writer_commits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    holder = create_engine(url, connect_args={"timeout": 0, "isolation_level": None})
    writer = create_engine(url, connect_args={"timeout": 0})
    with holder.connect() as c:
        c.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    other = holder.connect()
    other.exec_driver_sql("BEGIN IMMEDIATE")
    other.exec_driver_sql("INSERT INTO t VALUES (1)")
    waits: list[float] = []

    def release(seconds: float) -> None:  # the other run commits while we wait
        waits.append(seconds)
        other.exec_driver_sql("COMMIT")

    def write() -> int:
        with writer.begin() as c:
            c.execute(text("INSERT INTO t VALUES (2) ON CONFLICT DO NOTHING"))
            return int(c.execute(text("SELECT count(*) FROM t")).scalar_one())

    assert retry_lost_races(write, sleep=release) == 2
    assert len(waits) == 1
    other.close()
    holder.dispose()
    writer.dispose()


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
        c.execute(text("INSERT INTO t VALUES (1)"))
    calls = []

    def write() -> None:
        calls.append(1)
        with engine.begin() as c:
            c.execute(text("INSERT INTO t VALUES (1)"))

    with pytest.raises(IntegrityError) as info:
        retry_lost_races(write, sleep=lambda s: None)
    assert calls == [1] and not is_lost_race(info.value)
    with pytest.raises(OperationalError) as bad:
        retry_lost_races(lambda: engine.connect().execute(text("SELECT * FROM missing")), sleep=lambda s: None)
    assert not is_lost_race(bad.value)
    engine.dispose()


def test_a_postgresql_deadlock_is_a_lost_race(postgres_url: str) -> None:
    """Two transactions inserting the same two keys in opposite orders: the server aborts one (40P01)."""
    import threading

    from ingest.store.db import open_engine

    engine = open_engine(postgres_url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE race (k INTEGER PRIMARY KEY)"))
    errors: list[BaseException] = []

    def insert(order: tuple[int, int], started: threading.Event, go: threading.Event) -> None:
        try:
            with engine.begin() as c:
                c.execute(text("INSERT INTO race VALUES (:k) ON CONFLICT DO NOTHING"), {"k": order[0]})
                started.set()
                go.wait(10)
                c.execute(text("INSERT INTO race VALUES (:k) ON CONFLICT DO NOTHING"), {"k": order[1]})
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    a_started, b_started = threading.Event(), threading.Event()
    both = threading.Event()
    a = threading.Thread(target=insert, args=((1, 2), a_started, both))
    b = threading.Thread(target=insert, args=((2, 1), b_started, both))
    a.start()
    b.start()
    assert a_started.wait(10) and b_started.wait(10)
    both.set()
    a.join(30)
    b.join(30)
    engine.dispose()
    assert len(errors) == 1 and is_lost_race(errors[0]), errors
