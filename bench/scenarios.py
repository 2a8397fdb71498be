"""What each benchmark scenario sends: the open-loop request files and wrk's data files.

Open-loop requests are rendered up front, one record per scheduled request, so the generator
only copies bytes. Requests that change state (creates, transitions, anything with an
Idempotency-Key) are never repeated: a repeat would be a cheap replay or a 409, flattering
the figures. Transitions use runs prepared before the measurement: drafts to start and
running runs to finish.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

OPEN_LOOP_SCENARIOS = ("get", "create", "transition", "list", "mix", "get-new-connection")
WRK_SCENARIOS = ("get", "create", "transition", "list", "mix")
MIX = (("get", 0.5), ("list", 0.2), ("create", 0.2), ("transition", 0.1))
LIST_PAGE_SIZE = 50


@dataclass
class Pools:
    """Ids the scenarios draw from; drafts and running runs are used up, one per transition."""

    runs: list[str]
    experiments: list[str]
    lists: list[str]
    drafts: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    label: str
    method: str
    path: str
    body: dict[str, object] | None = None
    idempotency_key: str | None = None


def list_queries(count: int = 64, seed: int = 11) -> list[str]:
    """Query strings for ``GET /v1/runs``: status + tag + a created_at window, as a UI sends."""
    rng = random.Random(seed)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    queries = []
    for _ in range(count):
        after = today - timedelta(days=rng.randint(14, 80))
        params: list[tuple[str, str]] = [
            ("status", rng.choice(("finished", "running", "failed"))),
            ("tag", rng.choice(("gpu", "prod", "sweep", "baseline", "cpu", "nightly"))),
            ("created_after", after.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ]
        if rng.random() < 0.5:
            before = after + timedelta(days=rng.randint(3, 30))
            params.append(("created_before", before.strftime("%Y-%m-%dT%H:%M:%SZ")))
        params.append(("page_size", str(LIST_PAGE_SIZE)))
        queries.append(urlencode(params))
    return queries


def transitions_needed(scenario: str, total: int) -> int:
    """How many transitions the open-loop ``scenario`` sends in ``total`` requests."""
    if scenario == "transition":
        return total
    if scenario == "mix":
        return sum(1 for label in _mix_labels(total) if label == "transition")
    return 0


def _mix_labels(total: int, seed: int = 5) -> Iterator[str]:
    rng = random.Random(seed)
    labels = [label for label, _ in MIX]
    weights = [weight for _, weight in MIX]
    for _ in range(total):
        yield rng.choices(labels, weights)[0]


class RequestFactory:
    """Builds the requests of the open-loop scenarios from the pools (using up transitions)."""

    def __init__(self, pools: Pools, nonce: str, idempotency: bool, seed: int = 3) -> None:
        self.pools = pools
        self.nonce = nonce
        self.idempotency = idempotency
        self.rng = random.Random(seed)
        self.created = 0
        self.posts = 0
        self.transitions = 0

    def get(self) -> Request:
        return Request("get", "GET", f"/v1/runs/{self.rng.choice(self.pools.runs)}")

    def list(self) -> Request:
        return Request("list", "GET", f"/v1/runs?{self.rng.choice(self.pools.lists)}")

    def create(self) -> Request:
        self.created += 1
        body: dict[str, object] = {
            "name": f"openloop-{self.nonce}-{self.created}",
            "tags": ["bench", "gpu"],
            "params": {"lr": 0.001, "batch": 64, "epochs": 10},
            "git_sha": f"{self.created:040x}",
        }
        experiment = self.rng.choice(self.pools.experiments)
        return self._post("create", f"/v1/experiments/{experiment}/runs", body)

    def transition(self) -> Request:
        """Alternately start a prepared draft and finish a prepared running run."""
        self.transitions += 1
        if self.transitions % 2:
            return self._post("start", f"/v1/runs/{self.pools.drafts.pop()}/start", None)
        return self._post("finish", f"/v1/runs/{self.pools.running.pop()}/finish", None)

    def _post(self, label: str, path: str, body: dict[str, object] | None) -> Request:
        self.posts += 1
        key = f"ol-{self.nonce}-{self.posts}" if self.idempotency else None
        return Request(label, "POST", path, body, key)

    def scenario(self, name: str, total: int) -> list[Request]:
        """``total`` requests of scenario ``name`` (get and list repeat a smaller pool)."""
        if name in ("get", "get-new-connection"):
            return [self.get() for _ in range(min(total, 20_000))]
        if name == "list":
            return [self.list() for _ in range(min(total, 2_000))]
        if name == "create":
            return [self.create() for _ in range(total)]
        if name == "transition":
            return [self.transition() for _ in range(total)]
        if name == "mix":
            return [getattr(self, label)() for label in _mix_labels(total)]
        raise ValueError(f"unknown scenario {name!r}")


def render(
    request: Request, host: str, close: bool, headers: Mapping[str, str] | None = None
) -> bytes:
    """One raw HTTP/1.1 request (with ``headers``, e.g. the caller's identity)."""
    lines = [
        f"{request.method} {request.path} HTTP/1.1",
        f"Host: {host}",
        "User-Agent: expsvc-bench-openloop",
        "Accept: application/json",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    payload = b""
    if request.body is not None:
        payload = json.dumps(request.body, separators=(",", ":")).encode()
        lines.append("Content-Type: application/json")
    if request.method == "POST":
        lines.append(f"Content-Length: {len(payload)}")
    if request.idempotency_key is not None:
        lines.append(f"Idempotency-Key: {request.idempotency_key}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def write_request_file(
    path: Path,
    requests: list[Request],
    host: str,
    close: bool,
    headers: Mapping[str, str] | None = None,
) -> None:
    """The open-loop generator's input: ``LABEL<TAB>NBYTES\\n`` then the raw request."""
    with path.open("wb") as sink:
        for request in requests:
            raw = render(request, host, close, headers)
            sink.write(f"{request.label}\t{len(raw)}\n".encode() + raw)


def write_wrk_data(directory: Path, pools: Pools) -> None:
    """runs.txt, experiments.txt and lists.txt for the bench/wrk scripts."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, items in (
        ("runs", pools.runs),
        ("experiments", pools.experiments),
        ("lists", pools.lists),
    ):
        (directory / f"{name}.txt").write_text("\n".join(items) + "\n")
