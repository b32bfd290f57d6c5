"""Ray that cannot start or join a cluster is one line (exit 2), like a refused Slurm submission (issue 14 item 8)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tram_bench.cli import main
from tram_bench.executors.cluster import check_reachable

ray = pytest.importorskip("ray")
SUITE = Path(__file__).resolve().parents[1] / "fixtures/suites/synthetic.yaml"


def test_ray_init_failure_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    def refuse(**kwargs):
        # What ray.init raises for `--address auto` with no running cluster (without waiting for one here).
        raise ConnectionError("Could not find any running Ray instance.\nPlease specify the one to connect to.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    code = main(["run", str(SUITE), "-O", "seeds=[0]", "--executor", "ray", "--address", "auto",
                 "--results", str(tmp_path / "r"), "--quiet", "--no-collect"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == ["tram-bench: error: ray: could not start or join a cluster (address 'auto'): "
                                        "Could not find any running Ray instance."]
    assert not (tmp_path / "r" / "runs").exists()


def test_an_unreachable_address_fails_fast_with_one_line_before_ray_init(tmp_path, monkeypatch, capsys):
    # Nothing listens on port 1: ray.init would retry for minutes; the address is checked first.
    def must_not_run(**kwargs):
        raise AssertionError("ray.init was called for an address that refuses connections")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", must_not_run)
    code = main(["run", str(SUITE), "-O", "seeds=[0]", "--executor", "ray", "--address", "127.0.0.1:1",
                 "--results", str(tmp_path / "r"), "--quiet", "--no-collect"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "tram-bench: error: ray: could not start or join a cluster (address '127.0.0.1:1'): "
        "nothing accepted a connection at 127.0.0.1:1 within 10 s"), lines
    assert not (tmp_path / "r" / "runs").exists()


@pytest.mark.parametrize("address", [None, "auto", "local", "ray-head", "ray://ray-head"])
def test_addresses_without_a_port_are_left_to_ray(address):
    check_reachable(address, 0.01)  # no connection attempted, nothing raised


def test_the_connection_wait_is_bounded_by_the_timeout(monkeypatch):
    seen = []

    def silent_host(address, timeout):
        seen.append((address, timeout))
        raise TimeoutError("timed out")  # what a host that drops packets gives after `timeout` seconds

    monkeypatch.setattr(socket, "create_connection", silent_host)
    with pytest.raises(OSError, match=r"^nothing accepted a connection at 10\.0\.0\.7:6379 within 0\.2 s \(timed out\)$"):
        check_reachable("ray://10.0.0.7:6379", 0.2)
    assert seen == [(("10.0.0.7", 6379), 0.2)]
