"""A webhook receiver answers 500 to every delivery; its owner repairs it, and the runbook's
commands find its deliveries and hand back what failed for good."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from bench.drills.harness import Drill, DrillFailed, Stage


class Receiver:
    """A real HTTP receiver on loopback that fails (500) while ``failing`` is set."""

    def __init__(self) -> None:
        self.failing = threading.Event()
        self.answered = {200: 0, 500: 0}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                status = 500 if receiver.failing.is_set() else 200
                receiver.answered[status] += 1
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class WebhookFailing(Drill):
    name = "webhook-failing"
    section = "Webhook backlog"
    alerts = ("ExpsvcWebhookBacklog",)
    injects = "the receiver answers 500 to every delivery"
    shows = r'"last_status_code": 500'
    variables = frozenset({"WEBHOOK_ID"})

    def setup(self, stage: Stage) -> None:
        self.receiver = Receiver()
        stage.cleanup.append(self.receiver.close)
        primary = stage.cluster("primary")
        stage.configure(
            primary,
            EXPSVC_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
            EXPSVC_WEBHOOK_RETRY_SCHEDULE="1,2,4,8,15,30,60,120,300,600",
        )
        stage.serve()
        stage.worker()
        created = httpx.post(
            f"{stage.url}/v1/webhooks",
            json={"url": self.receiver.url, "description": "drill receiver (owner: team-drill)"},
            timeout=10,
        )
        if created.status_code != 201:
            raise DrillFailed(f"webhook not created: {created.status_code} {created.text}")
        stage.operator_env["WEBHOOK_ID"] = created.json()["id"]

    def inject(self, stage: Stage) -> None:
        self.receiver.failing.set()

    def detected(self, stage: Stage) -> bool:
        return self.receiver.answered[500] >= 5

    def repair(self, stage: Stage) -> None:
        self.receiver.failing.clear()  # the receiver's owner, told by the operator

    def notes(self, stage: Stage) -> str:
        return (
            "Detected after 5 failed attempts (the alert: a delivery pending for an hour, for "
            "15 min). The receiver's repair is its owner's and is not timed here: *fix* is our "
            f"commands after it. Receiver answers: {self.receiver.answered[500]} times 500, "
            f"{self.receiver.answered[200]} times 200."
        )


DRILL = WebhookFailing()
