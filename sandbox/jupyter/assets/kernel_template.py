# The Python kernel template ("zygote"). Started once per Jupyter Server and flavour by
# sci_templates.py, it imports ipykernel, IPython and, in the scientific flavour, numpy, pandas and
# matplotlib (about 1 CPU-second, once; the stdlib flavour, for one-shot runs, stops before the
# scientific stack) and builds the kernels' IPython shell, which each kernel adopts as its own
# (sci_prebuilt_shell.py), then forks one fresh kernel per request on its control socket, or a
# one-shot run (sci_one_shot.py: one cell, then exit; served by sci_runs.py). It never runs user
# code, and its children never fork for it: every kernel and run comes from this pristine state.
#
# Fork safety: before a fork this process has one thread, no ZMQ context, no event loop and no
# open files but its control socket, a pidfd of the Jupyter Server and a wakeup pipe. OpenBLAS
# starts a worker thread at import and stops it in its own pthread_atfork handler: one throwaway
# fork at startup leaves the template single-threaded. The child gets its own session and process
# group (so the template is outside every signal a kernel can send to its group), closes every
# inherited descriptor but the server's pidfd, takes the kernelspec's env and cwd, re-seeds
# `random` and numpy, then runs python_kernel.py as its __main__, exactly as a cold start would
# (memory cap, patches, IPKernelApp with its own ZMQ context and sockets from the connection file).
#
# With kernel uids on the template runs as root and the child becomes the requested uid (no
# supplementary groups, umask 077, its own process limit) before it touches anything of the
# kernel's; a kernel then cannot read this process or any other kernel through /proc or ptrace.
#
# The scientific flavour also keeps one spare kernel (sci_spare_kernel.py) forked and bound ahead of
# requests: a fork request that allows it is handed to the spare instead of forking, and the next
# spare is forked once no request has come for SPARE_DELAY_S. The stdlib flavour keeps a spare run
# the same way (sci_fork_child.become_spare_run: forked, its pages copied and out of the template),
# the next one forked right after a request: on 2 cores, a stream of runs one at a time then finds
# one ready each time (35-40 ms less per run), and many at a time fork as many as before.
#
# Before it is ready, it rehearses a kernel's start and a run in throwaway children, to learn which
# of its pages each copies: kernels, spares and runs then copy them in one go (sci_copied_pages.py).
#
# Protocol (SOCK_SEQPACKET, one JSON object per packet):
#   → {"fork": id, "argv": [python, launcher.py, "-f", connection_file], "env": {...}, "cwd": dir,
#      "uid": uid or null, "nproc": process limit of that uid, 0 for none, "spare": may a spare
#      take it}
#   → {"run": id, "env", "cwd", "uid", "nproc"}: a one-shot run (sci_one_shot.py), not a kernel
#   ← {"ready": pid, "threads": n, "copied_kib": {"kernel": KiB, "run": KiB}}  once, when ready
#   ← {"forked": id, "pid": pid} + a pidfd of the child (SCM_RIGHTS), and for a run our end of a
#      stream socket to it (the cell goes in, its messages come out); or {"failed": id, "error"};
#      for a spare, "connection": its ports, ip, transport, key and signature scheme
#   ← {"exited": pid, "status": code}          when a child exits (negative: killed by a signal)
# The template exits, killing its kernels' process groups, when the socket closes or the Jupyter
# Server dies; kernels also watch the server themselves, so none outlives it.
import ctypes
import gc
import json
import os
import random
import select
import signal
import socket
import sys
import threading
import time
import traceback

from sci_fork_child import (
    become_kernel,
    become_one_shot,
    become_spare,
    become_spare_run,
    rehearse_one_shot,
    rehearse_kernel,
)
from sci_spare_kernel import Spare, stands_in_for

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
# Spares that died before their request in a row, after which the template forks no more of them.
MAX_SPARE_FAILURES = 3
# The next spare kernel is forked once no request came for this long: not while a kernel it replaces
# starts (on 2 cores the two slowed each other), nor between the runs of a stream of one-shot runs.
SPARE_DELAY_S = 0.2
# A rehearsal (learn_copied_pages) takes about 0.35 s; one that takes this long is stuck.
REHEARSAL_TIMEOUT_S = 20
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.iostream",
    "ipykernel.heartbeat",
    "ipykernel.comm",
    "ipykernel.eventloops",
    "IPython.core.completerlib",
    "IPython.extensions.storemagic",  # loaded by every kernel's app
    "jupyter_client.session",
    # The kernel's patches of ipykernel (its launcher imports them) and the one-shot runner.
    "sci_kernel",
    "sci_one_shot",
)
# The scientific flavour's (sci_templates.py); the stdlib flavour stops at PRELOAD.
SCIENTIFIC_PRELOAD = (
    "numpy",
    "pandas",
    # Not pyplot nor matplotlib_inline: they hook into the IPython shell when imported, and the
    # shell exists only in the forked kernel (imported here, plt.show() displayed nothing).
    "matplotlib",
    "matplotlib.font_manager",
)

libc = ctypes.CDLL(None, use_errno=True)


def preload(flavour):
    import importlib

    from sci_without_debugpy import without_debugpy

    scientific = flavour == "scientific"
    with without_debugpy():
        for name in PRELOAD + (SCIENTIFIC_PRELOAD if scientific else ()):
            try:
                importlib.import_module(name)
            except Exception as error:  # an interpreter without pandas still gets fast kernels
                print(f"kernel template: cannot preload {name}: {error!r}", file=sys.stderr)
    try:
        import sci_fast_init

        sci_fast_init.warm()
    except Exception as error:
        print(f"kernel template: cannot warm kernel initialization: {error!r}", file=sys.stderr)
    if not scientific:
        return
    # Builds or loads matplotlib's font cache now, not in every kernel.
    try:
        import matplotlib.font_manager

        matplotlib.font_manager.fontManager.ttflist  # noqa: B018
    except Exception:
        pass


def prebuild_shell():
    # The kernel's IPython shell, built once: each kernel adopts its copy (sci_prebuilt_shell.py).
    try:
        import sci_prebuilt_shell
    except Exception as error:
        print(f"kernel template: cannot prebuild the IPython shell: {error!r}", file=sys.stderr)
        return
    sci_prebuilt_shell.build()


def prepare_one_shot():
    try:
        import sci_one_shot

        sci_one_shot.prepare()
    except Exception as error:
        print(f"kernel template: cannot prepare one-shot runs: {error!r}", file=sys.stderr)


def fork():
    """os.fork() without CPython's fork hooks, which cost each child ~6 ms of CPU and ~200 copied
    pages before its first line here (they touch every module that registered one: threading,
    logging, random, ...). What they do is for the threads of a parent, and this process has one
    when it forks (see Fork safety above): no lock is held and no other thread state is left over.
    The one hook with an effect in a single-threaded child, random's reseed, is done here."""
    if threading.active_count() > 1:  # never so far: then the hooks are needed
        return os.fork()
    pid = libc.fork()
    if pid < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    if pid == 0:
        random.seed()
    return pid


def thread_count():
    return len(os.listdir("/proc/self/task"))


def drop_library_threads():
    # OpenBLAS's atfork handler stops its threads in the parent; they restart lazily when used.
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def kib(ranges):
    return sum(length for _, length in ranges) // 1024


def read_until_eof(fd, timeout_s):
    """What a pipe's writer wrote until it closed it; None when that takes longer than timeout_s."""
    deadline = time.monotonic() + timeout_s
    chunks = []
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while select.select([pipe], [], [], max(deadline - time.monotonic(), 0))[0]:
            chunk = pipe.read(1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    return None


class Template:
    def __init__(self, control_fd, server_pid, spares):
        self.control = socket.socket(fileno=control_fd)
        self.server_pidfd = os.pidfd_open(server_pid)
        if os.getppid() != server_pid:  # the server died before we watched it
            sys.exit(0)
        self.launchers = {}
        self.children = set()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.poller = select.poll()
        # "no-spares", "spare-runs", or "spares:" and the transport spare kernels bind
        self.spare_kind = {"no-spares": None, "spare-runs": "run"}.get(spares, "kernel")
        self.spare_transport = spares.partition(":")[2] or None
        self.spare_delay_s = 0.0 if self.spare_kind == "run" else SPARE_DELAY_S
        self.spare = None
        self.spare_failures = 0
        # What each kernel's start (a spare's before its request) and each run copy right after
        # their fork (sci_copied_pages.py).
        self.kernel_pages = []
        self.run_pages = []
        self.last_request = 0.0

    def send(self, message, fds=()):
        data = json.dumps(message).encode()
        try:
            socket.send_fds(self.control, [data], list(fds)) if fds else self.control.send(data)
        except OSError:
            pass  # the provisioner is gone; the loop sees the socket close

    def launcher(self, path):
        code = self.launchers.get(path)
        if code is None:
            with open(path, "rb") as source:
                code = self.launchers[path] = compile(source.read(), path, "exec")
        return code

    def serve(self):
        """Answers requests until told to stop; returns a request in a forked child."""
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w)
        for fd in (self.control.fileno(), self.wake_r, self.server_pidfd):
            self.poller.register(fd, select.POLLIN)
        self.send(
            {
                "ready": os.getpid(),
                "threads": thread_count(),
                "copied_kib": {"kernel": kib(self.kernel_pages), "run": kib(self.run_pages)},
            }
        )
        while True:
            wait_ms = None
            wanted = self.spare_kind and self.spare is None
            if wanted and self.spare_failures < MAX_SPARE_FAILURES:
                wait_ms = max(0, (self.last_request + self.spare_delay_s - time.monotonic()) * 1000)
                if wait_ms == 0 and not self.poller.poll(0):  # requests waiting go first
                    wait_ms = None
                    spare_fd = self.fork_spare()
                    if spare_fd is not None:
                        return {"spare_socket": spare_fd}
            for fd, _ in self.poller.poll(wait_ms):
                if fd == self.wake_r:
                    self.reap()
                elif fd == self.server_pidfd:
                    return self.stop()
                elif self.spare is not None and fd == self.spare.sock.fileno():
                    self.on_spare_readable()
                else:
                    try:
                        data = self.control.recv(1 << 20)
                    except InterruptedError:
                        continue
                    except ConnectionResetError:  # the server went away mid-request
                        data = b""
                    if not data:
                        return self.stop()
                    request = json.loads(data)
                    self.last_request = time.monotonic()
                    if self.fork(request) == 0:
                        return request

    def learn_copied_pages(self, rehearse):
        """Rehearses a kernel's start or a run in a throwaway child: the pages it copies."""
        read_fd, write_fd = os.pipe()
        gc.freeze()
        pid = fork()
        if pid == 0:
            os.close(read_fd)
            code = 0
            try:
                rehearse(self, write_fd)
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        os.close(write_fd)
        report = read_until_eof(read_fd, REHEARSAL_TIMEOUT_S)
        if report is None:
            os.kill(pid, signal.SIGKILL)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        try:
            return json.loads(report)
        except (TypeError, ValueError):
            print(f"kernel template: {rehearse.__name__} failed ({status})", file=sys.stderr)
            return []

    def fork_spare(self):
        """Forks a spare kernel or run; returns its socket's descriptor in the spare, None here."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            gc.freeze()
            pid = fork()
        except OSError:
            ours.close()
            theirs.close()
            self.spare_failures += 1
            return None
        if pid == 0:
            ours.close()
            return theirs.detach()
        theirs.close()
        self.children.add(pid)
        self.spare = Spare(pid, ours)
        self.poller.register(ours.fileno(), select.POLLIN)
        return None

    def on_spare_readable(self):
        try:
            data = self.spare.sock.recv(1 << 16)
        except OSError:
            data = b""
        if data:
            self.spare.info = json.loads(data)
            return
        # It died (its exit is reported as any child's); the loop forks the next one.
        self.drop_spare()
        self.spare_failures += 1

    def drop_spare(self):
        self.poller.unregister(self.spare.sock.fileno())
        self.spare.close()
        self.spare = None

    def spare_takes(self, request):
        if self.spare_kind == "run":
            return "run" in request
        return "fork" in request and request.get("spare") and stands_in_for(request["argv"])

    def hand_spare(self, request, request_id):
        """Gives a request to the ready spare; False when there is none to give it to."""
        spare = self.spare
        if spare is None or spare.info is None or not self.spare_takes(request):
            return False
        reply = {"forked": request_id, "pid": spare.pid}
        data = json.dumps(request).encode()
        ours = None
        try:
            if "run" in request:  # the run's socket, as a forked run's: the cell in, its messages out
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                with theirs:
                    socket.send_fds(spare.sock, [data], [theirs.fileno()])
            else:
                reply["connection"] = spare.info
                spare.sock.send(data)
        except OSError:  # it died meanwhile: forked as usual
            if ours is not None:
                ours.close()
            self.drop_spare()
            self.spare_failures += 1
            return False
        self.spare_failures = 0
        try:
            self.send(reply, [spare.pidfd] + ([ours.fileno()] if ours is not None else []))
        finally:
            if ours is not None:
                ours.close()
            self.drop_spare()
        return True

    def fork(self, request):
        request_id = request.get("fork", request.get("run"))
        if self.hand_spare(request, request_id):
            return None
        ours = None
        try:
            if "run" in request:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                request["fd"] = theirs.detach()
            else:
                request["code"] = self.launcher(request["argv"][1])
            gc.freeze()  # objects of the template stay in pages the child never writes
            pid = fork()
        except Exception as error:
            if ours is not None:
                ours.close()
                os.close(request["fd"])
            self.send({"failed": request_id, "error": repr(error)})
            return None
        if pid == 0:
            if ours is not None:
                ours.close()
            return 0
        fds = [os.pidfd_open(pid)]  # before any reap, so it is this child's
        if ours is not None:
            os.close(request["fd"])
            fds.append(ours.detach())
        self.children.add(pid)
        try:
            self.send({"forked": request_id, "pid": pid}, fds)
        finally:
            for fd in fds:
                os.close(fd)
        return pid

    def reap(self):
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.send({"exited": pid, "status": os.waitstatus_to_exitcode(status)})

    def stop(self):
        for pid in self.children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        sys.exit(0)


def main():
    control_fd, server_pid, flavour = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    template = Template(control_fd, server_pid, spares=sys.argv[4])
    started = time.monotonic()
    preload(flavour)
    template.launcher(os.path.join(os.path.dirname(os.path.abspath(__file__)), "python_kernel.py"))
    prebuild_shell()
    prepare_one_shot()
    drop_library_threads()
    gc.collect()
    gc.disable()
    # Without kernel uids, kernels run as this user: this keeps them from reading the template's
    # memory or descriptors through ptrace or /proc where the user lacks CAP_SYS_PTRACE.
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if flavour == "scientific":  # the stdlib one forks runs only
        template.kernel_pages = template.learn_copied_pages(rehearse_kernel)
    template.run_pages = template.learn_copied_pages(rehearse_one_shot)
    ready_s = time.monotonic() - started
    print(f"kernel template ({flavour}) ready in {ready_s:.2f} s", file=sys.stderr)
    request = template.serve()
    # The kernel. It ends without the interpreter's finalization, which would tear down (and so
    # copy, page by page) every object inherited from the template: a cold kernel has none of them.
    import atexit

    if "run" in request or ("spare_socket" in request and template.spare_kind == "run"):
        try:  # each exits when the cell has run
            if "run" in request:
                become_one_shot(template, request)
            else:
                become_spare_run(template, request["spare_socket"])
        except BaseException:
            traceback.print_exc()
        os._exit(1)
    code = 0
    try:
        if "spare_socket" in request:
            become_spare(template, request["spare_socket"])
        else:
            become_kernel(template, request)
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
