# Starts ipykernel with a memory limit and two latency fixes for ipykernel 6.x.
# 0. SCI_KERNEL_MEMORY_BYTES caps the kernel's address space, so a memory bomb ends in a
#    MemoryError inside the cell instead of starving the machine.
# 1. Each execute flushes stdout and stderr through the IOPub thread and waits for it, about 2 ms,
#    even when nothing was printed. Skip the round trip when there is nothing to send.
# 2. A fixed 0.5 ms sleep after that flush (`_execute_sleep`) only orders shell replies behind
#    IOPub output for clients that do not wait for the idle status; the sandbox always waits.
import os
import resource
import sys

from ipykernel import iostream
from ipykernel.kernelapp import IPKernelApp
from traitlets.config import Config

_flush = iostream.OutStream.flush
_flush_in_thread = iostream.OutStream._flush


def _flush_in_thread_tracked(self):
    # The IO thread's own timed flush clears _flush_pending before it queues its message: count it
    # as in flight until the message is queued, so the idle status can never overtake it.
    self._sci_in_flight = True
    try:
        _flush_in_thread(self)
    finally:
        self._sci_in_flight = False


def _flush_if_pending(self):
    # Read order matters: pending, then in flight, then the buffer (each step is set before the
    # previous one is cleared in the IO thread).
    if self._flush_pending or self._subprocess_flush_pending or getattr(self, "_sci_in_flight", False):
        return _flush(self)
    with self._buffer_lock:
        empty = self._buffer.tell() == 0
    if not empty or self.echo is not None:
        return _flush(self)


iostream.OutStream._flush = _flush_in_thread_tracked
iostream.OutStream.flush = _flush_if_pending

if __name__ == "__main__":
    limit = int(os.environ.pop("SCI_KERNEL_MEMORY_BYTES", "0"))
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    config = Config()
    config.Kernel._execute_sleep = 0
    IPKernelApp.launch_instance(argv=sys.argv[1:], config=config)
