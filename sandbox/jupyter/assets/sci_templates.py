# The kernel template processes (kernel_template.py) and the Jupyter Server's end of their control
# sockets. Two flavours, at most one process of each per server:
# - scientific: ipykernel, IPython, our patches and numpy, pandas and matplotlib imported. It forks
#   every Python kernel (sci_kernel_provisioner.py) and the one-shot runs (sci_runs.py) of code that
#   imports anything beyond the standard library. Started with the server when the template is on.
# - stdlib: the same without the scientific stack, for one-shot runs of code that imports only the
#   standard library: about half the memory, and a run's fork, copy-on-write faults and exit cost in
#   proportion (7 ms less CPU in the run, ~3 in the fork, per trivial run on a 2-core machine).
#   Started once the scientific one is ready; until it is ready, or while it is down, the
#   scientific one serves its runs. With spares on, it keeps a spare run forked ahead.
# Each forks only from its pristine state: no process that ran user code is ever forked.
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

from sci_kernel_uids import KernelUids
from traitlets.log import get_logger

TEMPLATE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_template.py")
SCIENTIFIC = "scientific"
STDLIB = "stdlib"
# Room in the template's argument area for a kernel's command line (see set_cmdline there).
CMDLINE_ROOM = 4096
# How long a kernel start waits for the first scientific template to finish its imports, before it
# starts the old way instead. A respawned template, or a stdlib one, is not waited for.
FIRST_READY_TIMEOUT_S = 30.0
FORK_TIMEOUT_S = 5.0
RESPAWN_DELAY_S = 5.0
UNKNOWN_EXIT = 1


class TemplateUnavailable(Exception):
    pass


class KernelTemplate:
    """A template process of one flavour and our end of its control socket."""

    _instances = {}

    @classmethod
    def instance(cls, flavour=SCIENTIFIC):
        if flavour not in cls._instances:
            cls._instances[flavour] = cls(flavour)
        return cls._instances[flavour]

    def __init__(self, flavour):
        self.flavour = flavour
        self.log = get_logger()
        self.enabled = False
        self.proc = None
        self.sock = None
        self.pid = None
        self.ready = None  # asyncio.Future, made on the loop
        self.first = flavour == SCIENTIFIC  # waited for at its first start
        self.failures = 0
        self.started_at = 0.0
        self.requests = {}
        self.exits = {}
        self.exit_waiters = {}
        self.children = set()
        self.next_id = 0
        self.attached = None
        self.spares = False
        self.starts = {"spare": 0, "template": 0, "cold": 0}
        self.copied_kib = None  # what its kernels and runs copy ahead, once it is ready

    def start(self):
        """Spawns the template (it imports in the background). Safe to call without a loop."""
        self.enabled = True
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    TEMPLATE_PATH,
                    str(theirs.fileno()),
                    str(os.getpid()),
                    self.flavour,
                    self._spares_mode(),
                    " " * CMDLINE_ROOM,
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            ours.close()
            self.log.warning("sci-kernel-template: %s could not start: %s", self.flavour, error)
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock, self.pid, self.started_at = ours, self.proc.pid, time.monotonic()
        self.ready = None
        self.attached = None
        self.log.info("sci-kernel-template: %s started, pid %d", self.flavour, self.pid)
        write_stats()

    def _spares_mode(self):
        # With kernel uids, spares bind Unix sockets as kernels do (sci_kernel_ipc.py).
        if not self.spares:
            return "no-spares"
        if self.flavour == STDLIB:  # it forks runs only
            return "spare-runs"
        return "spares:ipc" if KernelUids.count else "spares:tcp"

    def _attach(self):
        loop = asyncio.get_running_loop()
        if self.sock is None or self.attached is loop:
            return
        self.attached = loop
        self.ready = loop.create_future()
        loop.add_reader(self.sock.fileno(), self._on_readable)

    def _on_readable(self):
        while self.sock is not None:
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if not data:
                for fd in fds:
                    os.close(fd)
                return self._on_death()
            self._on_message(json.loads(data), fds)

    def _on_message(self, message, fds):
        if "ready" in message:
            self.log.info(
                "sci-kernel-template: %s pid %d ready, %d thread(s), each kernel copies %d KiB of"
                " it ahead, each run %d KiB",
                self.flavour,
                message["ready"],
                message["threads"],
                message["copied_kib"]["kernel"],
                message["copied_kib"]["run"],
            )
            self.copied_kib = message["copied_kib"]
            write_stats()
            if not self.ready.done():
                self.ready.set_result(True)
            if self.flavour == SCIENTIFIC and not KernelTemplate.instance(STDLIB).enabled:
                # Not with the server: it would slow the kernels' template and the first kernels.
                start_template(STDLIB, spares=self.spares)
        elif "forked" in message or "failed" in message:
            future = self.requests.pop(message.get("forked", message.get("failed")), None)
            if "forked" in message:
                self.children.add(message["pid"])
            if future is None or future.done():
                for fd in fds:
                    os.close(fd)
                if "forked" in message:  # its start gave up waiting: nobody owns this kernel
                    self._kill_group(message["pid"])
            elif "forked" in message:
                future.set_result((message["pid"], fds, message.get("connection")))
            else:
                future.set_exception(TemplateUnavailable(f"fork failed: {message['error']}"))
        elif "exited" in message:
            if message["exited"] in self.children:
                self.children.discard(message["exited"])
                self.exits[message["exited"]] = message["status"]
            waiter = self.exit_waiters.pop(message["exited"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message["status"])

    def _on_death(self):
        sock, proc = self.sock, self.proc
        self.sock = self.proc = None
        if self.attached is not None:
            self.attached.remove_reader(sock.fileno())
        sock.close()
        code = None
        if proc is not None:
            proc.kill()
            code = proc.wait()
        self.children.clear()
        for waiter in self.exit_waiters.values():
            if not waiter.done():
                waiter.set_result(UNKNOWN_EXIT)
        self.exit_waiters.clear()
        for future in self.requests.values():
            if not future.done():
                future.set_exception(TemplateUnavailable("the template died"))
        self.requests.clear()
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(TemplateUnavailable("the template died before it was ready"))
            self.ready.exception()
        self.first = False
        self.failures = 0 if time.monotonic() - self.started_at > 60 else self.failures + 1
        delay = min(300.0, RESPAWN_DELAY_S * 2 ** max(0, self.failures - 1))
        self.log.warning(
            "sci-kernel-template: %s pid %s exited (%s); respawn in %.0f s",
            self.flavour,
            self.pid,
            code,
            delay,
        )
        self.pid = None
        self.copied_kib = None
        write_stats()
        if self.attached is not None:
            self.attached.call_later(delay, self.start)

    @staticmethod
    def _kill_group(pid):
        for kill in (os.killpg, os.kill):  # the group may not exist yet
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass

    async def fork(self, argv, env, cwd, uid, spare):
        """
        Forks a kernel (as `uid` unless None), or hands the request to a ready spare kernel when
        `spare` is true. Returns (pid, pidfd, the spare's connection info or None for a fork).
        Raises TemplateUnavailable.
        """
        fields = {"argv": argv, "env": env, "cwd": cwd, "uid": uid, "spare": spare}
        pid, fds, connection = await self._request("fork", fields)
        return pid, fds[0], connection

    async def run(self, env, cwd, uid):
        """Forks a one-shot run (sci_one_shot.py); returns (pid, pidfd, socket to it)."""
        pid, fds, _ = await self._request("run", {"env": env, "cwd": cwd, "uid": uid})
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            self._kill_group(pid)
            raise TemplateUnavailable("the template sent no socket with the run")
        return pid, fds[0], socket.socket(fileno=fds[1])

    async def _request(self, kind, fields):
        if not self.enabled:
            raise TemplateUnavailable("the template is off")
        self._attach()
        if self.sock is None:
            raise TemplateUnavailable("no template running")
        if not self.ready.done():
            if not self.first:
                raise TemplateUnavailable("the template is still starting")
            try:
                await asyncio.wait_for(asyncio.shield(self.ready), FIRST_READY_TIMEOUT_S)
            except asyncio.TimeoutError:
                raise TemplateUnavailable("the template is still starting") from None
        if self.ready.exception() is not None or self.sock is None:
            raise TemplateUnavailable("the template died")
        self.next_id += 1
        request_id = self.next_id
        future = asyncio.get_running_loop().create_future()
        self.requests[request_id] = future
        request = {kind: request_id, **fields, "nproc": KernelUids.nproc}
        try:
            self.sock.send(json.dumps(request).encode())
            return await asyncio.wait_for(future, FORK_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as error:
            self.requests.pop(request_id, None)
            if self.proc is not None:
                self.proc.kill()  # stuck: the socket closes, it is respawned later
            raise TemplateUnavailable(f"no answer to a fork request: {error!r}") from None

    async def wait_exit(self, pid):
        """The exit status of a child the template forked, once it has exited."""
        if pid in self.exits or pid not in self.children:
            return self.exit_status(pid)
        waiter = self.exit_waiters.get(pid)
        if waiter is None:
            waiter = self.exit_waiters[pid] = asyncio.get_running_loop().create_future()
        return await waiter

    def exit_status(self, pid):
        """The exit status the template reported, None while unknown."""
        if pid in self.exits:
            return self.exits[pid]
        return None if pid in self.children else UNKNOWN_EXIT

    def forget(self, pid):
        self.exits.pop(pid, None)
        self.children.discard(pid)

    def count(self, path):
        self.starts[path] += 1
        write_stats()

    def close(self):
        if self.sock is not None:
            self.sock.close()  # the template kills what is left of its kernels and exits
            self.sock = None


def start_template(flavour=SCIENTIFIC, spares=False):
    """Spawns the template of a flavour, with spares (kernels, or runs for the stdlib one) or not;
    closed when the server exits."""
    import atexit

    template = KernelTemplate.instance(flavour)
    template.spares = spares
    template.start()
    atexit.register(template.close)


def write_stats():
    # What the sandbox reads for /metrics and tests: kernel starts per path, the templates' pids and
    # what their kernels and runs copy ahead.
    runtime_dir = os.environ.get("JUPYTER_RUNTIME_DIR")
    if not runtime_dir:
        return
    scientific = KernelTemplate.instance()
    stdlib = KernelTemplate._instances.get(STDLIB)
    path = os.path.join(runtime_dir, "sci-kernel-starts.json")
    stats = {
        "starts": scientific.starts,
        "template_pid": scientific.pid,
        "template_enabled": scientific.enabled,
        "stdlib_template_pid": stdlib and stdlib.pid,
        "copied_kib": {
            template.flavour: template.copied_kib
            for template in KernelTemplate._instances.values()
            if template.copied_kib is not None
        },
    }
    try:
        with open(path + ".tmp", "w") as file:
            json.dump(stats, file)
        os.replace(path + ".tmp", path)
    except OSError as error:
        scientific.log.warning("sci-kernel-template: cannot write %s: %s", path, error)
