# The Python kernel's patches of ipykernel 6.x, applied at import: by the kernel launcher
# (python_kernel.py) in a cold kernel, once by the kernel template for every kernel and one-shot run
# it forks. configure() reads the per-kernel settings from the environment, in the kernel itself.
# 0. SCI_KERNEL_MEMORY_BYTES caps how far the kernel's address space grows, so a memory bomb ends in a
#    MemoryError inside the cell instead of starving the machine. At the cap there may be no memory
#    left to format and send the MemoryError itself: the hard limit is HEADROOM_BYTES higher, and
#    the soft limit is raised to it for the error report, then lowered when the next cell starts.
#    SCI_KERNEL_MAX_OUTPUT_CHARS stops a flood of output at the source, and no stream message
#    exceeds 1 MiB: a flood would otherwise reach Jupyter Server as messages of hundreds of MB that
#    its WebSocket refuses.
# 1. Each execute flushes stdout and stderr through the IOPub thread and waits for it, about 2 ms,
#    even when nothing was printed. Skip the round trip when there is nothing to send.
# 2. A fixed 0.5 ms sleep after that flush (`_execute_sleep`) only orders shell replies behind
#    IOPub output for clients that do not wait for the idle status; the sandbox always waits.
# 3. IPython writes every cell to ~/.ipython's history.sqlite with a commit, a quarter of the
#    kernel's CPU per execute, into a file every context shares (`%history -g` would show one
#    context's code to another). History is kept in memory instead: In, Out and %history work.
# Output of a thread, task or thread-pool job that an earlier cell started is dropped, not sent
# as the running cell's (ipykernel sends whatever is written with the running cell's parent).
# An image over MAX_IMAGE_CHARS (base64) is shrunk to fit, with a note in its text/plain.
# Rich output that a library sends in a form clients cannot use is completed (sci_rich_output.py).
# The connection file Jupyter wrote is left as it is: ipykernel rewrites it (remove, then write)
# once bound, and Jupyter Server reads it back right after the launch; a forked kernel is quick
# enough to empty it under the server's read, which failed the start (JSONDecodeError).
import base64
import contextvars
import functools
import io
import json
import os
import resource
import sys
import threading
from concurrent import futures

from sci_without_debugpy import without_debugpy

with without_debugpy():
    from ipykernel import iostream
    from ipykernel.displayhook import ZMQShellDisplayHook
    from ipykernel.ipkernel import IPythonKernel
    from ipykernel.kernelapp import IPKernelApp
    from ipykernel.zmqshell import ZMQDisplayPublisher
from IPython.core.magics.script import ScriptMagics

import sci_rich_output

_flush = iostream.OutStream.flush
_flush_in_thread = iostream.OutStream._flush


MAX_MESSAGE_CHARS = 1 << 20
# Set by configure(), in the kernel.
MAX_OUTPUT_CHARS = 0
TAIL_CHARS = 0
MEMORY_BYTES = 0
HEADROOM_BYTES = 64 << 20


def _flush_in_thread_tracked(self):
    # ipykernel's _flush, in chunks. The IO thread's own timed flush clears _flush_pending before
    # it queues its message: count it as in flight until then, so the idle status cannot overtake.
    self._sci_in_flight = True
    try:
        self._flush_pending = False
        self._subprocess_flush_pending = False
        if self.echo is not None:
            try:
                self.echo.flush()
            except OSError:
                pass
        data = self._flush_buffer()
        self.session.pid = os.getpid()
        for start in range(0, len(data), MAX_MESSAGE_CHARS):
            content = {"name": self.name, "text": data[start : start + MAX_MESSAGE_CHARS]}
            self.session.send(self.pub_thread, "stream", content=content, parent=self.parent_header, ident=self.topic)
    finally:
        self._sci_in_flight = False


_write = iostream.OutStream.write
DROPPED_MIME = "application/vnd.sci.dropped+json"


def _write_capped(self, string):
    # Past the cap, keep only the last TAIL_CHARS (the end of a long output is where its errors
    # are) and count the rest; _emit_tail writes them once the cell has finished.
    if MAX_OUTPUT_CHARS <= 0:
        return _write(self, string)
    parent = self.parent_header.get("msg_id") if isinstance(self.parent_header, dict) else None
    if parent != getattr(self, "_sci_parent", None):
        self._sci_parent, self._sci_written, self._sci_tail = parent, 0, ""
    room = MAX_OUTPUT_CHARS - self._sci_written
    self._sci_written += len(string)
    if room > 0:
        _write(self, string[:room])
        string = string[room:]
    if string:
        self._sci_tail = (self._sci_tail + string)[-TAIL_CHARS:]
    return self._sci_written


def _emit_tail(self):
    tail = getattr(self, "_sci_tail", "")
    if not tail:
        return
    dropped = self._sci_written - MAX_OUTPUT_CHARS - len(tail)
    _write(self, "\n[... %d characters dropped by the kernel ...]\n" % dropped)
    _write(self, tail)
    self._sci_tail = ""
    # The count, for the sandbox's truncated_chars; it is not shown as a result.
    from IPython.display import publish_display_data

    publish_display_data({DROPPED_MIME: {"stream": self.name, "chars": dropped}})


def _address_space_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def configure():
    """In the kernel (or one-shot run), before it runs anything: its caps, from its environment."""
    global MAX_OUTPUT_CHARS, TAIL_CHARS, MEMORY_BYTES
    sci_rich_output.configure()
    MAX_OUTPUT_CHARS = int(os.environ.pop("SCI_KERNEL_MAX_OUTPUT_CHARS", "0"))
    TAIL_CHARS = MAX_OUTPUT_CHARS // 4
    # The cap is what the kernel may add to the address space it starts with, so that it means the
    # same for a kernel forked from the template, which starts with numpy, pandas and matplotlib
    # mapped (about 0.25 GiB more than a cold kernel at this point).
    cap = int(os.environ.pop("SCI_KERNEL_MEMORY_BYTES", "0"))
    MEMORY_BYTES = cap + _address_space_bytes() if cap > 0 else 0
    if MEMORY_BYTES > 0:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES + HEADROOM_BYTES))


def _memory_error_traceback(shell, etype, value, tb, tb_offset=None):
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES + HEADROOM_BYTES,) * 2)
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


_do_execute = IPythonKernel.do_execute


async def _do_execute_capped(self, *args, **kwargs):
    _cell.set(self.get_parent("shell")["header"]["msg_id"])
    if MEMORY_BYTES > 0:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES + HEADROOM_BYTES))
        if not self.shell.custom_exceptions:
            self.shell.set_custom_exc((MemoryError,), _memory_error_traceback)
    try:
        return await _do_execute(self, *args, **kwargs)
    finally:
        if MAX_OUTPUT_CHARS > 0:
            for stream in (sys.stdout, sys.stderr):
                if isinstance(stream, iostream.OutStream):
                    _emit_tail(stream)


def _flush_if_pending(self):
    # Read order matters: pending, then in flight, then the buffer (each step is set before the
    # previous one is cleared in the IO thread).
    if self._flush_pending or self._subprocess_flush_pending or getattr(self, "_sci_in_flight", False):
        return _flush(self)
    with self._buffer_lock:
        empty = self._buffer.tell() == 0
    if not empty or self.echo is not None:
        return _flush(self)


# The cell that started the running code: a context variable in the main thread (asyncio tasks
# copy it), an attribute of other threads, set when they start and for each thread-pool job.
_cell = contextvars.ContextVar("sci_cell", default=None)


def _origin():
    thread = threading.current_thread()
    if thread is threading.main_thread():
        return _cell.get()
    return getattr(thread, "_sci_job_cell", None) or getattr(thread, "_sci_cell", None)


_thread_start = threading.Thread.start


def _thread_start_tagged(self):
    self._sci_cell = _origin()
    return _thread_start(self)


_submit = futures.ThreadPoolExecutor.submit


def _submit_tagged(self, fn, /, *args, **kwargs):
    cell = _origin()

    def job():
        thread = threading.current_thread()
        thread._sci_job_cell = cell
        try:
            return fn(*args, **kwargs)
        finally:
            thread._sci_job_cell = None

    return _submit(self, job)


def _own_writes_only(write):
    def write_own(self, string):
        # Threads of the kernel itself, and code run before any cell, have no origin.
        origin = _origin()
        if origin is not None and origin != self.parent_header.get("msg_id"):
            return len(string)
        return write(self, string)

    return write_own


_shebang = ScriptMagics.shebang


@functools.wraps(_shebang)  # keeps the parser that %%script reads its arguments with
def _shebang_unowned(self, line, cell):
    # %%script (and %%bash, %%sh, ...) relays the program's output from an event loop thread
    # that the first such cell starts and every later one reuses: that thread belongs to no cell
    # (tagged with the first one, it had the output of every later script cell dropped).
    token = _cell.set(None)
    try:
        return _shebang(self, line, cell)
    finally:
        _cell.reset(token)


_set_parent = iostream.OutStream.set_parent


def _set_parent_flushed(self, parent):
    # Output still buffered belongs to the previous request: send it with that one's header.
    with self._buffer_lock:
        pending = self._buffer.tell() > 0
    if pending and self.pub_thread is not None:
        _flush(self)
    _set_parent(self, parent)


# Half of the sandbox's per-execution image budget (MAX_IMAGE_CHARS in sandbox/output.ts).
MAX_IMAGE_CHARS = 1 << 20
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}


def _shrink(raw, fmt):
    from PIL import Image

    image = Image.open(io.BytesIO(raw))
    original = image.size
    size, data = original, raw
    for _ in range(6):
        scale = min(0.9, 0.9 * (MAX_IMAGE_CHARS * 3 / 4 / len(data)) ** 0.5)
        size = (max(1, int(size[0] * scale)), max(1, int(size[1] * scale)))
        out = io.BytesIO()
        image.resize(size, Image.LANCZOS).save(out, fmt)
        data = out.getvalue()
        if len(data) * 4 / 3 <= MAX_IMAGE_CHARS:
            break
    return data, original, size


def _fit_images(data):
    if not isinstance(data, dict):
        return data
    notes = []
    for mime, fmt in IMAGE_FORMATS.items():
        value = data.get(mime)
        if value is None or len(value) * (4 / 3 if isinstance(value, bytes) else 1) <= MAX_IMAGE_CHARS:
            continue
        raw = value if isinstance(value, bytes) else base64.b64decode(value)
        try:
            shrunk, before, after = _shrink(raw, fmt)
        except Exception:  # no Pillow, or not an image it reads: the sandbox drops it with a note
            continue
        data = {**data, mime: shrunk if isinstance(value, bytes) else base64.b64encode(shrunk).decode()}
        notes.append(
            "[%s shrunk from %dx%d px (%d bytes) to %dx%d px (%d bytes) to fit the %d-character image budget]"
            % (mime, *before, len(raw), *after, len(shrunk), MAX_IMAGE_CHARS)
        )
    if notes:
        text = data.get("text/plain")
        data = {**data, "text/plain": "\n".join(([text] if isinstance(text, str) else []) + notes)}
    return data


_publish = ZMQDisplayPublisher.publish


def _publish_fitted(self, data, *args, **kwargs):
    return _publish(self, _fit_images(sci_rich_output.with_html(data)), *args, **kwargs)


_write_format_data = ZMQShellDisplayHook.write_format_data


def _write_format_data_fitted(self, format_dict, md_dict=None):
    return _write_format_data(self, _fit_images(sci_rich_output.with_html(format_dict)), md_dict)


_write_connection_file = IPKernelApp.write_connection_file
PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")


def _write_connection_file_unless_given(self):
    # Rewritten only when it lacks a port this kernel chose itself.
    try:
        with open(self.abs_connection_file, encoding="utf-8") as f:
            given = json.load(f)
    except (OSError, ValueError):
        given = {}
    if any(given.get(name) != getattr(self, name) for name in PORT_NAMES):
        _write_connection_file(self)


threading.Thread.start = _thread_start_tagged
futures.ThreadPoolExecutor.submit = _submit_tagged
iostream.OutStream.set_parent = _set_parent_flushed
ZMQDisplayPublisher.publish = _publish_fitted
ScriptMagics.shebang = _shebang_unowned
ZMQShellDisplayHook.write_format_data = _write_format_data_fitted
iostream.OutStream._flush = _flush_in_thread_tracked
iostream.OutStream.flush = _flush_if_pending
IPythonKernel.do_execute = _do_execute_capped
IPKernelApp.write_connection_file = _write_connection_file_unless_given
iostream.OutStream.write = _own_writes_only(_write_capped)
