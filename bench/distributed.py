"""``bench.meta_step --distribute=...``: a meta-update split across replicas, and its scaling.

Scaling efficiency = single-device time of the global meta-batch / (replicas x
distributed time): 1.0 when R replicas take 1/R of the time, 0.5 when they take
as long as one device would take for half the batch... and below 1/R when the
split is slower than one device (R replicas sharing one machine's cores).

* ``mirrored``: in this process, first the single-device learner, then the
  learner under ``MirroredStrategy`` over the local devices (``--cpu_devices``
  splits the CPU into logical devices);
* ``multi_worker`` with ``--local_workers=W``: this process times the
  single-device learner, then starts W worker processes of this benchmark on
  localhost ports (``TF_CONFIG``), which time the distributed learner; the
  chief's line is printed with the baseline added. Without ``--local_workers``
  the process is one worker of the job ``TF_CONFIG`` describes (a real cluster:
  start the same command on every machine) and prints its distributed time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys


def scaling(single_sec: float, distributed_sec: float, replicas: int) -> dict:
    return {"sec_single_device": single_sec, "speedup": single_sec / distributed_sec,
            "scaling_efficiency": single_sec / (replicas * distributed_sec)}


def free_ports(count: int) -> list[int]:
    """``count`` localhost TCP ports free now (bound and released: another process may take one
    before the caller binds it, which a test on a busy machine accepts)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_local_workers(argv: list[str], workers: int, timeout: float) -> dict:
    """Runs ``argv`` (this benchmark) as ``workers`` processes of one job; the chief's JSON."""
    ports = free_ports(workers)
    procs = []
    for index in range(workers):
        env = dict(os.environ, TF_CONFIG=json.dumps({
            "cluster": {"worker": [f"localhost:{p}" for p in ports]},
            "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-m", "bench.meta_step", *argv], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, start_new_session=True))
    try:
        outputs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outputs):
        if p.returncode != 0:
            return {"error": f"worker exited with {p.returncode}: {err.strip()[-500:]}"}
    return json.loads(outputs[0][0].strip().splitlines()[-1])
