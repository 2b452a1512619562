"""The floor for an execute round trip: the same kernel driven over raw ZMQ by jupyter_client, with
no Jupyter Server, WebSocket or HTTP in between. Prints {"p50_ms", "p95_ms", "n"} as JSON.

Usage: python3 zmq_floor.py <kernel argv as JSON> <iterations>
"""
import json
import statistics
import sys
import time

from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec

argv = json.loads(sys.argv[1])
iterations = int(sys.argv[2])

manager = KernelManager()
manager._kernel_spec = KernelSpec(argv=argv, display_name="floor", language="python")
manager.start_kernel()
client = manager.client()
client.start_channels()
client.wait_for_ready(timeout=60)


def execute(code):
    msg_id = client.execute(code)
    while client.get_shell_msg(timeout=10)["parent_header"].get("msg_id") != msg_id:
        pass
    while True:
        msg = client.get_iopub_msg(timeout=10)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            return


for _ in range(50):
    execute("1+1")
samples = []
for _ in range(iterations):
    started = time.perf_counter()
    execute("1+1")
    samples.append((time.perf_counter() - started) * 1000)
samples.sort()
client.stop_channels()
manager.shutdown_kernel(now=True)
print(json.dumps({"p50_ms": statistics.median(samples), "p95_ms": samples[int(len(samples) * 0.95)], "n": iterations}))
