"""Several GPUs, one per task: dask workers each take their own GPU and every task asks for one.

No GPU is needed: CUDA is faked (torch.cuda.is_available / device_count), the cluster runs in this
process (threads), so the fakes reach the workers."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
import torch

from epizoo.bench import runner
from epizoo.bench.config import BenchConfig
from epizoo.bench.task import _task_device


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def config(**overrides) -> BenchConfig:
    return BenchConfig(**{"store": "s.zarr", "out": "out", "models": ["epivan"], **overrides})


@pytest.mark.parametrize("device", ["auto", "cuda"])
def test_each_worker_takes_its_own_gpu(two_gpus, monkeypatch, device):
    import distributed

    for name, expected in ((0, "cuda:0"), (1, "cuda:1"), (2, "cuda:0"), ("3", "cuda:1")):
        monkeypatch.setattr(distributed, "get_worker", lambda name=name: SimpleNamespace(name=name))
        assert _task_device(config(device=device)) == expected
    assert _task_device(config(device="cuda:1")) == "cuda:1"  # a GPU named outright is kept
    assert _task_device(config(device="cpu")) == "cpu"


def test_outside_dask_the_device_is_left_to_the_trainer(two_gpus):
    assert _task_device(config(device="cuda")) == "cuda"


_RUNNING: dict[str, int] = {}  # module-level, so the task function pickles by reference
_MOST: dict[str, int] = {}
_LOCK = threading.Lock()


def _placed_task(_):
    """Which worker ran it on which device, counting the tasks on each device at once."""
    from distributed import get_worker

    device = _task_device(config(device="cuda"))
    with _LOCK:
        _RUNNING[device] = _RUNNING.get(device, 0) + 1
        _MOST[device] = max(_MOST.get(device, 0), _RUNNING[device])
    time.sleep(0.02)  # long enough for the other worker's task to overlap
    with _LOCK:
        _RUNNING[device] -= 1
    return get_worker().address, device


def test_concurrent_tasks_run_on_distinct_gpus(two_gpus):
    """A cluster of two one-GPU workers: each worker sticks to one GPU, the two differ, and a GPU
    never runs two tasks at once."""
    from distributed import Client, LocalCluster

    _RUNNING.clear()
    _MOST.clear()
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, resources={"GPU": 1}, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            assert runner.gpu_resources(config(device="cuda"), client) == {"GPU": 1}
            futures = client.map(_placed_task, range(8), resources={"GPU": 1}, pure=False)
            placed = client.gather(futures)
    by_worker = {}
    for worker, device in placed:
        by_worker.setdefault(worker, set()).add(device)
    assert all(len(devices) == 1 for devices in by_worker.values())
    assert set().union(*by_worker.values()) == {"cuda:0", "cuda:1"} and len(by_worker) == 2
    assert set(_MOST.values()) == {1}  # two threads per worker, yet one task per GPU at a time


class FakeClient:
    def __init__(self, resources):
        self.resources, self.submitted = resources, []

    def scheduler_info(self):
        return {"workers": {f"tcp://w{i}": {"resources": dict(self.resources)} for i in range(2)}}

    def submit(self, function, *args, **kwargs):
        self.submitted.append(kwargs)
        return FakeFuture()


class FakeFuture:
    def result(self):
        return {}


@pytest.mark.parametrize("resources, device, asked", [
    ({"GPU": 1}, "cuda", {"GPU": 1}),
    ({"GPU": 1}, "auto", {"GPU": 1}),
    ({"GPU": 1}, "cpu", None),  # CPU tasks do not hold a GPU
    ({}, "cuda", None),  # workers without GPU resources: asking would wait forever
])
def test_each_task_asks_for_a_gpu_when_workers_have_them(monkeypatch, resources, device, asked):
    import distributed

    client = FakeClient(resources)
    monkeypatch.setattr(distributed, "as_completed", lambda futures: list(futures))
    monkeypatch.setattr(runner, "write_metrics", lambda *args: None)
    tasks = [SimpleNamespace(key=f"t{i}", after=None) for i in range(3)]
    progress = SimpleNamespace(start=lambda *a, **k: None, finish=lambda *a: None)
    run = SimpleNamespace(result=lambda task: None)
    runner._run_dask(config(device=device, threads=1), tasks, run, progress, SimpleNamespace(client=client))
    assert [kwargs.get("resources") for kwargs in client.submitted] == [asked] * 3


def test_a_local_cluster_on_a_gpu_machine_gives_each_worker_one_gpu(two_gpus, monkeypatch):
    import distributed

    made = {}

    class FakeCluster:
        def __init__(self, **kwargs):
            made.update(kwargs)

    monkeypatch.setattr(distributed, "LocalCluster", FakeCluster)
    monkeypatch.setattr(distributed, "Client", lambda cluster, **kwargs: SimpleNamespace(dashboard_link=None))
    lines = []
    runner._Cluster.for_bench(config(device="cuda", workers=2), lines.append)
    assert made["resources"] == {"GPU": 1} and made["n_workers"] == 2
    assert "one GPU each" in lines[0]
    made.clear()
    runner._Cluster.for_bench(config(device="cpu", workers=2), lines.append)
    assert "resources" not in made
