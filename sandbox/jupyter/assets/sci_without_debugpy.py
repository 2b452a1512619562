# ipykernel imports debugpy (pydevd) when it is installed, for Jupyter's visual debugger, which the
# sandbox never offers: its clients reach a kernel only through cells. That import was 0.2 s of every
# cold kernel start and 21 MiB of the kernel template's heap, whose page tables each fork copies and
# each kernel's exit tears down again. Without it ipykernel runs as where debugpy is not installed.
import contextlib
import sys


@contextlib.contextmanager
def without_debugpy():
    """ipykernel imported inside finds no debugpy; after it, a cell may still import debugpy."""
    hidden = "debugpy" not in sys.modules
    if hidden:
        sys.modules["debugpy"] = None
    try:
        yield
    finally:
        if hidden and sys.modules.get("debugpy", 0) is None:
            del sys.modules["debugpy"]
