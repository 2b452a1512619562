# A one-shot run: one cell in a fresh process forked from the kernel template, for
# POST /api/v1/execute (CI evaluation). A kernel's whole life (ZMQ sockets, heartbeat, control
# thread, Jupyter's channels and WebSocket, shutdown) cost about four times the cell itself; a run
# keeps what the cell's result depends on and drops the rest. It adopts the template's IPython
# shell as a kernel does (sci_prebuilt_shell.py), runs the cell through ipykernel's own
# execute_request with the kernel's patches and caps (sci_kernel.py), and writes each message the
# kernel would send, as one JSON line {"msg_type", "content"}, to its socket (sci_runs.py relays
# them). Then it exits: nothing of it is ever used again.
#
# Not a kernel's: no stdin (input() raises as in a kernel the sandbox drives), no comms, no
# startup files or config files of an IPython profile (a run's home is fresh with kernel uids).
import asyncio
import atexit
import json
import os
import sys
import threading
import uuid

from IPython.core.profiledir import ProfileDir
from IPython.paths import get_ipython_dir
from ipykernel.displayhook import ZMQDisplayHook
from ipykernel.iostream import IOPubThread, OutStream
from ipykernel.ipkernel import IPythonKernel
from jupyter_client.session import Session
from traitlets.log import get_logger

import sci_fast_init
import sci_kernel
import sci_prebuilt_shell

MPL_INLINE = "module://matplotlib_inline.backend_inline"
# What the template's rehearsal of a run executes (sci_fork_child.rehearse_one_shot): one output.
REHEARSAL_CELL = "print(1)"


class LineSession(Session):
    """Sends every message as a JSON line to a file descriptor instead of a ZMQ socket."""

    fd = None
    _lock = threading.Lock()

    def send(self, stream, msg_or_type, content=None, parent=None, ident=None, buffers=None,
             track=False, header=None, metadata=None):
        msg = msg_or_type if isinstance(msg_or_type, dict) else self.msg(
            msg_or_type, content=content, parent=parent, header=header, metadata=metadata
        )
        line = self.pack({"msg_type": msg["header"]["msg_type"], "content": msg["content"]}) + b"\n"
        with self._lock:
            view = memoryview(line)
            while view:
                view = view[os.write(self.fd, view):]
        return msg


class LocalIOPubThread(IOPubThread):
    """ipykernel's IOPub thread (output is batched and sent from it) without ZMQ: events are
    handed to its loop with the loop's own thread-safe callback."""

    def __init__(self):
        super().__init__(socket=None)

    def _setup_event_pipe(self):
        pass

    def schedule(self, f):
        if self.thread.is_alive():
            self._events.append(f)
            self.io_loop.add_callback(self._handle_event, None)
        else:
            f()

    def close(self):
        pass


def read_request(fd):
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return json.loads(b"".join(chunks))


def kernel_for(session, iopub):
    ipython_dir = get_ipython_dir()
    profile_dir = ProfileDir.create_profile_dir_by_name(ipython_dir, "default")
    sci_prebuilt_shell.arm_one_shot()
    kernel = IPythonKernel(
        session=session,
        iopub_thread=iopub,
        iopub_socket=iopub.background_socket,
        profile_dir=profile_dir,
        config=sci_prebuilt_shell.kernel_config(),
        log=get_logger(),
    )
    kernel.shell.extension_manager.load_extension("storemagic")  # as the kernel app does
    return kernel


# Built by the template (prepare()): about 5 ms of traitlets work per run.
_session = None


def prepare():
    """In the template, after its imports."""
    global _session
    _session = LineSession(key=b"")


def session_for(fd):
    session = _session or LineSession(key=b"")
    session.fd = fd
    session.session = str(uuid.uuid4())
    session.username = os.environ.get("USER", "username")
    return session


def run(fd, before_exit=None):
    """In the forked child, once it is the run's uid, dir and env: runs the cell, then exits."""
    code = 0
    log_fd = os.dup(2)  # the server's log, before the run's stderr takes fd 2
    try:
        request = read_request(fd)
        sci_kernel.configure()
        os.environ.setdefault("MPLBACKEND", MPL_INLINE)  # as the kernel app does
        sci_fast_init.start()  # traitlets' class caches, filled by the template, until user code
        session = session_for(fd)
        iopub = LocalIOPubThread()
        iopub.start()
        sys.stdout = OutStream(session, iopub, "stdout")
        sys.stderr = OutStream(session, iopub, "stderr")
        sys.displayhook = ZMQDisplayHook(session, iopub.background_socket)
        kernel = kernel_for(session, iopub)
        parent = session.msg(
            "execute_request",
            content={
                "code": request["code"],
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": False,
            },
        )
        kernel.set_parent([], parent)
        sci_fast_init.stop()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(kernel.execute_request(None, [], parent))
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    except BaseException:
        import traceback

        os.write(log_fd, ("one-shot run: " + traceback.format_exc()).encode(errors="replace"))
        code = 1
    # As a kernel ends: the user's atexit handlers, then the shell's and the IOPub thread's.
    atexit._run_exitfuncs()
    if before_exit is not None:
        before_exit()
    os._exit(code)
