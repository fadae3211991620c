"""One Ray head node on 127.0.0.1 for a whole test session, joined by the Ray tests.

A local cluster costs 5-10 s to start and stop on a quiet 2-core machine (30-90 s under load);
started once and joined with ``--ray-address`` (as a user joins a running cluster), each test
pays only its driver's connection and its workers' start. The head runs under ``ray start
--block`` in a process group of its own: SIGINT makes it stop every process it started, and
whatever outlives that (found by its process group or its private temp folder) is killed by pid.
``ray stop`` is not used: it stops every Ray process of the machine, other sessions' included.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Seconds to wait for the head to come up (a shared 2-core machine took up to ~60 s) and for
# its processes to stop after SIGTERM.
START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30
# Printed by `ray start --block` once every head process runs.
READY_LINE = "will now block forever"


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1 (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RayHead:
    """`ray start --head --block` on 127.0.0.1 with ``cpus`` CPUs; ``address`` once started."""

    def __init__(self, cpus: int = 2):
        self.cpus = cpus
        # A short private folder: Ray's unix sockets live under it (paths of at most 107 bytes),
        # and /tmp/ray is where other sessions' clusters (and `ray.init("auto")`) look.
        self.temp_dir = tempfile.mkdtemp(prefix="tsray-", dir="/tmp")
        self.log = Path(self.temp_dir) / "head.log"
        self.address = f"127.0.0.1:{free_port()}"
        self.process: subprocess.Popen | None = None
        # Token authentication, as `ray start` turns on by default, with a token of this cluster's
        # own (256 bits, as Ray makes them) rather than one shared through ~/.ray/auth_token.
        token = Path(self.temp_dir) / "auth_token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        # The third keeps Ray's processes and drivers from probing the route to a public resolver
        # for "this node's address" (it is 127.0.0.1; in a loopback-only namespace the probe fails
        # and every driver logs a warning), as prep.core.engine_ray does for a local cluster.
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
                    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

    def driver_env(self) -> dict[str, str]:
        """The environment of a driver that joins this cluster with ``--ray-address``: its token,
        and no RAY_ADDRESS (the flag alone says where; add it to join through the variable)."""
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        return {**env, **self.env}

    def start(self) -> str:
        ray = Path(sys.executable).with_name("ray")
        argv = [str(ray if ray.exists() else shutil.which("ray") or "ray"), "start", "--head", "--block",
                "--node-ip-address", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1],
                "--num-cpus", str(self.cpus), "--include-dashboard", "false", "--disable-usage-stats",
                "--temp-dir", self.temp_dir]
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(self.env, RAY_USAGE_STATS_ENABLED="0")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY_LINE not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"ray start --head did not come up at {self.address}:\n{tail}")
            time.sleep(0.5)
        return self.address

    def stop(self) -> list[str]:
        """Stop the head and everything it started; the command lines of processes that had to be
        killed after the graceful stop (none when it went as it should)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)   # KeyboardInterrupt: its exit handlers stop what it started
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        killed = []
        for pid, command in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(command)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        return killed

    def leftovers(self) -> list[tuple[int, str]]:
        """(pid, command line) of live processes in the head's process group or naming its temp
        folder (raylet, GCS, workers, agents), as /proc shows them."""
        group = self.process.pid if self.process is not None else None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                mine = group is not None and os.getpgid(int(entry.name)) == group
            except (OSError, ProcessLookupError):
                continue   # gone meanwhile
            if command and (mine or self.temp_dir in command):
                found.append((int(entry.name), command.strip()))
        return found


# Run as a driver of the shared cluster: what the tests' drivers left on it, as JSON.
LEFTOVERS = """
import json, sys, ray
from ray._private import state
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
me = ray.get_runtime_context().get_job_id()
jobs = [j["JobID"] for j in state.jobs() if not j["IsDead"] and j["JobID"] != me]
actors = [a["ActorClassName"] for a in state.actors().values()
          if a["State"] != "DEAD" and a["JobID"] != me and not a.get("IsDetached")]
print(json.dumps({"jobs": jobs, "actors": actors, "free_cpus": ray.available_resources().get("CPU", 0),
                  "cpus": ray.cluster_resources().get("CPU", 0)}))
"""


def left_behind(head: RayHead) -> dict:
    """Live jobs and non-detached actors of the drivers that have left, and the CPUs free."""
    import json

    done = subprocess.run([sys.executable, "-c", LEFTOVERS, head.address], capture_output=True, text=True,
                          env=head.driver_env(), timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"could not read the cluster's state:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_in_windows(argv: list[str], window: int, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    """``tunesmith ARGV`` in a fresh interpreter whose Ray engine hands over ``window`` records per
    Ray dataset, so that a few thousand records cross several windows (and batches end between them)."""
    script = (f"import sys, prep.core.engine_ray as r; r.WINDOW_RECORDS = {int(window)}\n"
              "from train.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True,
                          timeout=timeout, env=env)
