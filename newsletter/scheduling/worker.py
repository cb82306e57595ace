"""``newsletter worker``: the scheduler and the registered loops, until SIGTERM.

The scheduler lives only here, never in web processes: gunicorn workers would each fire it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from newsletter.db import utcnow
from newsletter.extensions import db
from newsletter.hooks import ScheduledJob, registry
from newsletter.scheduling import service

log = logging.getLogger(__name__)


def make_trigger(app: Flask, job: ScheduledJob) -> Any:
    """The job's trigger in the configured time zone; interval grids shared by all workers."""
    options = dict(job.trigger(app))
    kind = options.pop("trigger", "cron")
    timezone = ZoneInfo(app.config["TIMEZONE"])
    if kind == "cron":
        return CronTrigger(timezone=timezone, **options)
    if kind == "interval":
        options.setdefault("start_date", service.GRID_EPOCH)
        return IntervalTrigger(timezone=timezone, **options)
    raise ValueError(f"job {job.name}: unsupported trigger {kind!r}")


def scheduled_call(app: Flask, job: ScheduledJob, trigger: Any) -> Callable[[], None]:
    def call() -> None:
        with app.app_context():
            try:
                service.run_job(job.name, job.func, service.last_fire_time(trigger, utcnow()))
            except Exception:
                log.exception("job %s could not run", job.name)
            finally:
                db.session.remove()

    return call


def build_scheduler(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=ZoneInfo(app.config["TIMEZONE"]))
    for job in service.all_jobs(app):
        trigger = make_trigger(app, job)
        scheduler.add_job(
            scheduled_call(app, job, trigger),
            trigger=trigger,
            id=job.name,
            name=job.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=300,
        )
    return scheduler


def next_runs(scheduler: BackgroundScheduler) -> dict[str, datetime]:
    return {job.id: job.next_run_time for job in scheduler.get_jobs()}


def run_worker(app: Flask, stop: threading.Event | None = None) -> int:
    """Catch up, start the scheduler, run the loops; on SIGTERM stop cleanly and return 0."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

    with app.app_context():
        try:
            service.catch_up()
        except Exception:
            log.exception("catch-up failed; the scheduler starts anyway")
        finally:
            db.session.remove()

    scheduler = build_scheduler(app)
    scheduler.start()
    log.info(
        "worker started: %s",
        ", ".join(f"{name} next {when.isoformat()}" for name, when in next_runs(scheduler).items()),
    )

    loops = registry(app).worker_loops
    threads = [
        threading.Thread(target=_in_context, args=(app, loop, stop), name=name, daemon=True)
        for name, loop in loops[1:]
    ]
    for thread in threads:
        thread.start()
    if loops:
        _in_context(app, loops[0][1], stop)
    while not stop.wait(1.0):
        pass
    log.info("worker stopping: waiting for running jobs")
    scheduler.shutdown(wait=True)
    for thread in threads:
        thread.join()
    log.info("worker stopped")
    return 0


def _in_context(app: Flask, loop: Callable[[threading.Event], None], stop: threading.Event) -> None:
    with app.app_context():
        try:
            loop(stop)
        except Exception:
            log.exception("worker loop failed; stopping the worker")
            stop.set()
