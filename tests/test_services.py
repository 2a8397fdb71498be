"""The test servers' start check: a server counts as started only when its own process listens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import KafkaBroker, holds_listener


def test_holds_listener_names_the_process_that_listens() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = int(listener.getsockname()[1])
        assert not holds_listener(os.getpid(), port)  # bound, not listening yet
        listener.listen()
        assert holds_listener(os.getpid(), port)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            # The port answers connections, but not from this process.
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            assert not holds_listener(other.pid, port)
        finally:
            other.kill()
            other.wait()


def test_a_broker_whose_port_another_process_holds_is_not_started(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        broker = KafkaBroker(tmp_path, port=int(squatter.getsockname()[1]))
        try:
            with pytest.raises(RuntimeError, match="server"):
                broker.start()
        finally:
            broker.stop()
