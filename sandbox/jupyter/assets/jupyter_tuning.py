# Jupyter Server settings shared by the service's own server (jupyter_server_config.py imports this
# file) and the server in each docker-runtime container (the service prepends this file to
# container_entry.py, so a container always runs the service's version, whatever the image's age).
import asyncio
import functools
import logging

from jupyter_client.manager import AsyncKernelManager, KernelManager, _get_future
from jupyter_client.multikernelmanager import AsyncMultiKernelManager
from jupyter_server._tz import utcnow
from jupyter_server.services.kernels.kernelmanager import MappingKernelManager


def tune_jupyter_server(c):
    c.ServerApp.open_browser = False
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
    # traitlets sets the app's logger to DEBUG and filters at its handler: every debug line of every
    # request and kernel start was formatted (caller lookup included) and then dropped, ~3 ms of CPU
    # per kernel's life. The logger now stops what the handler would.
    c.ServerApp.logging_config = {"loggers": {"ServerApp": {"level": logging.getLevelName(logging.INFO)}}}
    MappingKernelManager.start_watching_activity = _no_activity_watch
    AsyncMultiKernelManager.shutdown_kernel = _shutdown_kernel_when_ready
    for method, alias in PENDING_STATE_METHODS:
        pending = _in_pending_state(getattr(KernelManager, method).__wrapped__)
        setattr(KernelManager, method, pending)  # what restart_kernel calls
        setattr(AsyncKernelManager, alias, pending)


# KernelManager's methods that jupyter_client 7.4 wraps in in_pending_state, and their names on
# AsyncKernelManager (the class Jupyter Server's kernels are).
PENDING_STATE_METHODS = (
    ("_async_start_kernel", "start_kernel"),
    ("_async_shutdown_kernel", "shutdown_kernel"),
)


# jupyter_client 7.4's in_pending_state without its `asyncio.sleep(0.01)`, there "to ensure tests
# can capture the state before done": 10 ms more on every kernel start and shutdown, 20 a restart.
def _in_pending_state(method):
    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        if self._attempted_start or not self._ready:
            self._ready = _get_future()
        try:
            out = await method(self, *args, **kwargs)
        except Exception as error:
            self._ready.set_exception(error)
            self.log.exception(error)
            raise
        self._ready.set_result(None)
        return out

    return wrapper


# Jupyter watches each kernel's activity on a second IOPub socket, receiving, verifying and decoding
# every message again: half the server's CPU per execute (5.3 → 2.6 ms). It feeds only culling
# (off) and the execution_state of /api/kernels, which the service does not read: it follows
# kernels on their own WebSockets.
def _no_activity_watch(self, kernel_id):
    kernel = self._kernels[kernel_id]
    kernel.execution_state = "idle"
    kernel.reason = ""
    kernel.last_activity = utcnow()


_shutdown_kernel = AsyncMultiKernelManager.shutdown_kernel


# A kernel that died is restarted by the server, and its `ready` future stays pending until the new
# process is up. jupyter_client 7.4 reads that future's exception when asked to shut the kernel down
# meanwhile, which raises InvalidStateError ("Exception is not set."): the request fails with a
# traceback in the log, and a server shutting down leaves the kernel behind. Let the restart finish
# first (it is bounded by the kernel's start), then shut down as usual. A restart can also begin
# between that wait and the check (a forked kernel restarts in milliseconds): the check fails
# before anything was stopped, so wait for that restart too and ask again.
async def _wait_until_ready(self, kernel_id, timeout):
    ready = getattr(self._kernels.get(kernel_id), "_ready", None)
    if isinstance(ready, asyncio.Future) and not ready.done():
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout=timeout)
        except Exception:  # a failed or stuck restart: shutting down is still what is wanted
            pass


async def _shutdown_kernel_when_ready(self, kernel_id, now=False, restart=False):
    for _attempt in range(10):
        await _wait_until_ready(self, kernel_id, timeout=60)
        try:
            return await _shutdown_kernel(self, kernel_id, now=now, restart=restart)
        except asyncio.InvalidStateError:
            await asyncio.sleep(0.05)
    return await _shutdown_kernel(self, kernel_id, now=now, restart=restart)
