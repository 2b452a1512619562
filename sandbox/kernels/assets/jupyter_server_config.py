# Jupyter Server settings for the sandbox service. Loaded with --config; the service passes the
# per-run values (port, token, root dir) in SCI_* variables, popped here so kernels never inherit them.
import os

from jupyter_server._tz import utcnow
from jupyter_server.services.kernels.handlers import ZMQChannelsHandler
from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

c = get_config()  # noqa: F821 (injected by traitlets)

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = int(os.environ.pop("SCI_JUPYTER_PORT"))
c.ServerApp.port_retries = 0
c.ServerApp.token = os.environ.pop("SCI_JUPYTER_TOKEN")
c.ServerApp.root_dir = os.environ.pop("SCI_JUPYTER_ROOT")
c.ServerApp.open_browser = False
# CI and dev machines run the service as root; the Docker image does not.
c.ServerApp.allow_root = True
c.ServerApp.jpserver_extensions = {}
# The service caps output itself and reports truncation; Jupyter's rate limiter would silently
# replace output with a notice instead.
c.ServerApp.iopub_data_rate_limit = 0
c.ServerApp.iopub_msg_rate_limit = 0
# Notice a dead kernel within half a second instead of three.
c.KernelRestarter.time_to_dead = 0.5
c.MappingKernelManager.cull_idle_timeout = 0
c.MappingKernelManager.kernel_info_timeout = 30
# A kernel stuck in a loop never answers shutdown_request: kill it after 1 s, not 5.
c.KernelManager.shutdown_wait_time = 1.0


# Tornado leaves Nagle's algorithm on for WebSockets, so every small kernel message waits on a
# delayed ACK: about 45 ms per execute round trip instead of about 7 ms.
_open = ZMQChannelsHandler.open


def _open_nodelay(self, *args, **kwargs):
    self.set_nodelay(True)
    return _open(self, *args, **kwargs)


# Off only when the benchmark measures what the fix is worth.
if os.environ.pop("SCI_JUPYTER_NODELAY", "1") == "1":
    ZMQChannelsHandler.open = _open_nodelay



# Jupyter watches each kernel's activity on a second IOPub socket, receiving, verifying and decoding
# every message again: half the server's CPU per execute (5.3 → 2.6 ms). It feeds only culling
# (off) and the execution_state of /api/kernels, which the service does not read: it follows
# kernels on their own WebSockets.
def _no_activity_watch(self, kernel_id):
    kernel = self._kernels[kernel_id]
    kernel.execution_state = "idle"
    kernel.reason = ""
    kernel.last_activity = utcnow()


MappingKernelManager.start_watching_activity = _no_activity_watch

# Exit with the service: if the process that started us goes away (even by SIGKILL), stop, so
# Jupyter's shutdown stops every kernel and nothing is left behind.
def _watch_parent(parent_pid):
    import signal
    import threading
    import time

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="sci-parent-watch", daemon=True).start()


_watch_parent(os.getppid())
