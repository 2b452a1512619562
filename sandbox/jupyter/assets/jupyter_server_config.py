# Jupyter Server settings for the sandbox service. Loaded with --config; the service passes the
# per-run values (port, token, root dir) in SCI_* variables, popped here so kernels never inherit them.
import os
import sys

import zmq
from jupyter_client.connect import ConnectionFileMixin, channel_socket_types
from jupyter_server.services.kernels.handlers import ZMQChannelsHandler

sys.path.insert(0, os.path.dirname(__file__))
from jupyter_tuning import tune_jupyter_server  # noqa: E402

c = get_config()  # noqa: F821 (injected by traitlets)

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = int(os.environ.pop("SCI_JUPYTER_PORT"))
c.ServerApp.port_retries = 0
c.ServerApp.token = os.environ.pop("SCI_JUPYTER_TOKEN")
c.ServerApp.root_dir = os.environ.pop("SCI_JUPYTER_ROOT")
# CI and dev machines run the service as root; the Docker image does not.
c.ServerApp.allow_root = True
tune_jupyter_server(c)


# Tornado leaves Nagle's algorithm on for WebSockets, so every small kernel message waits on a
# delayed ACK: about 45 ms per execute round trip instead of about 7 ms.
_open = ZMQChannelsHandler.open


def _open_nodelay(self, *args, **kwargs):
    self.set_nodelay(True)
    return _open(self, *args, **kwargs)


# Off only when the benchmark measures what the fix is worth.
if os.environ.pop("SCI_JUPYTER_NODELAY", "1") == "1":
    ZMQChannelsHandler.open = _open_nodelay


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


# Jupyter connects to a new kernel's ports before the kernel listens, and ZMQ retries a refused
# connection every 100 ms: a forked kernel binds its ports about 30 ms after its start request and
# then waited on that retry. Retry every 10 ms.
def _create_connected_socket(self, channel, identity=None):
    sock = self.context.socket(channel_socket_types[channel])
    sock.linger = 1000
    sock.setsockopt(zmq.RECONNECT_IVL, 10)
    if identity:
        sock.identity = identity
    sock.connect(self._make_url(channel))
    return sock


ConnectionFileMixin._create_connected_socket = _create_connected_socket


# Python kernels forked from a warm template (sci_templates.py, sci_kernel_provisioner.py); the
# kernelspec names the provisioner, whose entry point is found in this directory. Started now, so
# that it has finished its imports by the time the warm pool asks for kernels.
from sci_templates import start_template  # noqa: E402
from sci_kernel_uids import configure_uids  # noqa: E402

# "start:count:nproc": each kernel runs as the uid that owns its start directory. Then nothing the
# server writes may be readable by others: its jpserver-<pid>-open.html carries the token and is
# written with the umask's mode, in a runtime dir kernels can search (they learn the pid in /proc).
_uids = os.environ.pop("SCI_KERNEL_UIDS", "")
configure_uids(_uids)
if _uids:
    os.umask(0o077)
_spares = os.environ.pop("SCI_KERNEL_SPARES", "1") == "1"
if os.environ.pop("SCI_KERNEL_TEMPLATE", "0") == "1":
    start_template(spares=_spares)
# POST /sci/runs: one-shot runs forked from the template (sci_runs.py); 503 while it is off.
c.ServerApp.jpserver_extensions = {"sci_runs": True}
