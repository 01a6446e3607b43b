"""Fixtures for the hub-cluster tests: a real 3-node NATS JetStream cluster per test.

nats-server comes from the Debian package (scripts/install-test-deps.sh installs it). Where
it is missing these tests fail under CI (``CI`` set) and are skipped, saying why, elsewhere.
"""

from __future__ import annotations

import os

import pytest

from .natsnodes import NatsCluster, nats_server_binary


def _require(what: str, ok: bool) -> None:
    if ok:
        return
    message = f"{what} is missing: run scripts/install-test-deps.sh"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _nats(tmp_path, size: int):
    binary = nats_server_binary()
    _require("nats-server", binary is not None)
    try:
        import nats  # noqa: F401
    except ImportError:
        _require("nats-py (the [cluster] extra)", False)
    cluster = NatsCluster(binary, tmp_path / "nats", size)  # type: ignore[arg-type]
    cluster.start()
    return cluster


@pytest.fixture
def nats_cluster(tmp_path):
    cluster = _nats(tmp_path, 3)
    yield cluster
    cluster.stop()


@pytest.fixture
def nats_single(tmp_path):
    cluster = _nats(tmp_path, 1)
    yield cluster
    cluster.stop()
