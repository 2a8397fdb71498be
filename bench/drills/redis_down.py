"""The Redis Streams sink's server stopped under write load; the backlog of the `redis` sink
grows (writes are not affected) and drains in order once Redis is started again."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import redis
from bench.drills.harness import Drill, DrillFailed, Stage, free_port, poll
from tests.services import redis_server_binary

AGE_SECONDS = 3.0


class RedisDown(Drill):
    name = "redis-down"
    section = "Redis or Kafka down"
    alerts = ("ExpsvcOutboxLag",)
    injects = "`redis-cli shutdown nosave` of the Redis the redis sink publishes to"
    shows = r"Could not connect|Connection refused"
    variables = frozenset({"EXPSVC_REDIS_URL", "REDIS_CONF"})

    def setup(self, stage: Stage) -> None:
        directory = stage.directory / "redis"
        directory.mkdir()
        port = free_port()
        conf = directory / "redis.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {directory}\ndaemonize yes\n"
            f"pidfile {directory / 'redis.pid'}\nlogfile {directory / 'redis.log'}\n"
            'save ""\nappendonly yes\n'
        )
        stage.cleanup.append(lambda: stop_redis(directory / "redis.pid"))
        primary = stage.cluster("primary")
        stage.configure(primary, EXPSVC_REDIS_URL=f"redis://127.0.0.1:{port}/0")
        # the runbook's `redis-server "$REDIS_CONF"`, as the operator would start it
        stage.operator_env["PATH"] = (
            f"{Path(redis_server_binary()).parent}:" + (stage.operator_env["PATH"])
        )
        stage.operator_env["REDIS_CONF"] = str(conf)
        started = stage.shell('redis-server "$REDIS_CONF"')
        stage.transcript.pop()
        if started.code:
            raise DrillFailed(f"redis-server did not start: {started.output}")
        self.client = redis.Redis.from_url(stage.service_env["EXPSVC_REDIS_URL"])
        poll(self._answers, "redis up")
        stage.serve()
        stage.worker()

    def _answers(self) -> bool:
        with contextlib.suppress(redis.RedisError):
            return bool(self.client.ping())
        return False

    def inject(self, stage: Stage) -> None:
        self.client.shutdown(nosave=True)

    def detected(self, stage: Stage) -> bool:
        return stage.oldest_unpublished("redis") > AGE_SECONDS

    def notes(self, stage: Stage) -> str:
        return (
            f"Detected at the redis sink's oldest unpublished event {AGE_SECONDS:.0f} s old (the "
            "alert: 300 s for 5 min). Redis kept its stream in an append-only file."
        )


def stop_redis(pidfile: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


DRILL = RedisDown()
