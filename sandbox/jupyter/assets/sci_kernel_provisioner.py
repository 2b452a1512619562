# Kernel provisioner that starts Python kernels by forking them from a warm template process
# (kernel_template.py) instead of starting a new interpreter: about 0.6 s of imports saved per
# kernel. Runs inside the Jupyter Server, which stays the owner of every kernel: poll, signals,
# interrupt, restart, shutdown and kill all go through here as with jupyter_client's
# LocalProvisioner, which this extends and falls back to (a Popen of the kernelspec's argv) when
# the template is off, still starting after a respawn, dead or unable to fork.
#
# Found by jupyter_client through the entry point in sci_kernel_template-1.0.dist-info (this
# directory is on the server's sys.path); a kernelspec asks for it in
# metadata.kernel_provisioner.provisioner_name = "sci-template-provisioner".
#
# A forked kernel is the template's child, not ours: we watch it through a pidfd the template
# sends with each fork (taken before the template can reap it, so it names that process and no
# later one with the same pid), and learn its exit status from the template's report.
#
# Kernel uids (sci_kernel_uids.py): every kernel, forked or cold, Python or not, runs as the owner
# of the directory it starts in when they are on.
import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

from jupyter_client.provisioning import LocalProvisioner
from sci_kernel_ports import release_taken_ports
from sci_kernel_uids import KernelUids, drop_nproc, kernel_uid, uid_env
from traitlets.log import get_logger

TEMPLATE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_template.py")
# Room in the template's argument area for a kernel's command line (see set_cmdline there).
CMDLINE_ROOM = 4096
# How long a kernel start waits for the first template to finish its imports, before it starts
# the old way instead. A respawned template is not waited for.
FIRST_READY_TIMEOUT_S = 30.0
FORK_TIMEOUT_S = 5.0
RESPAWN_DELAY_S = 5.0
UNKNOWN_EXIT = 1


class TemplateUnavailable(Exception):
    pass


class KernelTemplate:
    """The template process and our end of its control socket. One per Jupyter Server."""

    _instance = None

    @classmethod
    def instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self):
        self.log = get_logger()
        self.enabled = False
        self.proc = None
        self.sock = None
        self.pid = None
        self.ready = None  # asyncio.Future, made on the loop
        self.first = True
        self.failures = 0
        self.started_at = 0.0
        self.requests = {}
        self.exits = {}
        self.exit_waiters = {}
        self.children = set()
        self.next_id = 0
        self.attached = None
        self.starts = {"template": 0, "cold": 0}

    def start(self):
        """Spawns the template (it imports in the background). Safe to call without a loop."""
        self.enabled = True
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, TEMPLATE_PATH, str(theirs.fileno()), str(os.getpid()), " " * CMDLINE_ROOM],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            ours.close()
            self.log.warning("sci-kernel-template: could not start: %s", error)
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock, self.pid, self.started_at = ours, self.proc.pid, time.monotonic()
        self.ready = None
        self.attached = None
        self.log.info("sci-kernel-template: started pid %d", self.pid)
        self._write_stats()

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
            self.log.info("sci-kernel-template: pid %d ready, %d thread(s)", message["ready"], message["threads"])
            if not self.ready.done():
                self.ready.set_result(True)
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
                future.set_result((message["pid"], fds))
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
            "sci-kernel-template: pid %s exited (%s); kernels start the old way, respawn in %.0f s",
            self.pid,
            code,
            delay,
        )
        self.pid = None
        self._write_stats()
        if self.attached is not None:
            self.attached.call_later(delay, self.start)

    @staticmethod
    def _kill_group(pid):
        for kill in (os.killpg, os.kill):  # the group may not exist yet
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass

    async def fork(self, argv, env, cwd, uid):
        """Forks a kernel (as `uid` unless None); returns (pid, pidfd). Raises TemplateUnavailable."""
        pid, fds = await self._request("fork", {"argv": argv, "env": env, "cwd": cwd, "uid": uid})
        return pid, fds[0]

    async def run(self, env, cwd, uid):
        """Forks a one-shot run (sci_one_shot.py); returns (pid, pidfd, socket to it)."""
        pid, fds = await self._request("run", {"env": env, "cwd": cwd, "uid": uid})
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
        self._write_stats()

    def _write_stats(self):
        # What the sandbox reads for /metrics: starts per path and the template's pid.
        runtime_dir = os.environ.get("JUPYTER_RUNTIME_DIR")
        if not runtime_dir:
            return
        path = os.path.join(runtime_dir, "sci-kernel-starts.json")
        stats = {"starts": self.starts, "template_pid": self.pid, "template_enabled": self.enabled}
        try:
            with open(path + ".tmp", "w") as file:
                json.dump(stats, file)
            os.replace(path + ".tmp", path)
        except OSError as error:
            self.log.warning("sci-kernel-template: cannot write %s: %s", path, error)

    def close(self):
        if self.sock is not None:
            self.sock.close()  # the template kills what is left of its kernels and exits
            self.sock = None


def forkable(cmd):
    # The template runs Python launchers with its own interpreter.
    return len(cmd) >= 2 and cmd[1].endswith(".py") and os.path.realpath(cmd[0]) == os.path.realpath(sys.executable)


class TemplateProvisioner(LocalProvisioner):
    """LocalProvisioner whose kernels are forked from the template when it can."""

    forked_pid = None
    pidfd = None

    @property
    def has_process(self):
        return self.forked_pid is not None or super().has_process

    async def pre_launch(self, **kwargs):
        busy = release_taken_ports(self)
        if busy:
            self.log.warning(
                "sci-kernel-ports kernel=%s taken=%s: new ports",
                self.kernel_id,
                ",".join(map(str, busy)),
            )
        return await super().pre_launch(**kwargs)

    async def launch_kernel(self, cmd, **kwargs):
        started = time.monotonic()
        template = KernelTemplate.instance()
        python = self.kernel_spec.language == "python"
        cwd = kwargs.get("cwd") or os.getcwd()
        uid = kernel_uid(cwd)
        if uid is not None:
            # Its own connection file is the one it may read (ipykernel and tslab load it at start);
            # the runtime dir lets it reach that file by name, and list nothing.
            os.chown(self.parent.connection_file, uid, uid)
            kwargs["env"] = uid_env(kwargs["env"], cwd, uid)
        reason = None if forkable(cmd) else "the kernelspec does not run a Python launcher"
        if reason is None:
            try:
                pid, pidfd = await template.fork(cmd, kwargs["env"], cwd, uid)
            except TemplateUnavailable as error:
                reason = str(error)
            else:
                self.forked_pid = self.pid = self.pgid = pid
                self.pidfd = pidfd
                template.count("template")
                self.log.info(
                    "sci-kernel-start kernel=%s path=template pid=%d ms=%.1f",
                    self.kernel_id,
                    pid,
                    (time.monotonic() - started) * 1000,
                )
                return self.connection_info
        if uid is not None:
            kwargs.update(user=uid, group=uid, extra_groups=[], umask=0o077, preexec_fn=drop_nproc)
        info = await super().launch_kernel(cmd, **kwargs)
        if not python:
            return info
        template.count("cold")
        self.log.info(
            "sci-kernel-start kernel=%s path=cold pid=%d ms=%.1f reason=%s",
            self.kernel_id,
            self.pid,
            (time.monotonic() - started) * 1000,
            reason.replace(" ", "_"),
        )
        return info

    def _exited(self):
        # A pidfd reads as ready once its process has exited (zombie or reaped).
        return self.pidfd is None or bool(select.select([self.pidfd], [], [], 0)[0])

    async def poll(self):
        if self.forked_pid is None:
            return await super().poll()
        if not self._exited():
            return None
        status = KernelTemplate.instance().exit_status(self.forked_pid)
        return UNKNOWN_EXIT if status is None else status

    async def wait(self):
        if self.forked_pid is None:
            return await super().wait()
        while not self._exited():
            await asyncio.sleep(0.01)
        template = KernelTemplate.instance()
        # The template's report follows the exit by a moment.
        for _ in range(50):
            status = template.exit_status(self.forked_pid)
            if status is not None:
                break
            await asyncio.sleep(0.01)
        self._forget()
        return UNKNOWN_EXIT if status is None else status

    async def send_signal(self, signum):
        if self.forked_pid is None:
            return await super().send_signal(signum)
        # Once the template has reaped the kernel its pid (and process group id) may be reused:
        # signal the group only while the kernel lives or is an unreaped zombie.
        if self._exited() and KernelTemplate.instance().exit_status(self.forked_pid) is not None:
            return
        try:
            os.killpg(self.pgid, signum)
        except ProcessLookupError:
            pass

    async def kill(self, restart=False):
        if self.forked_pid is None:
            return await super().kill(restart)
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart=False):
        if self.forked_pid is None:
            return await super().terminate(restart)
        await self.send_signal(signal.SIGTERM)

    def _forget(self):
        if self.forked_pid is not None:
            KernelTemplate.instance().forget(self.forked_pid)
        if self.pidfd is not None:
            os.close(self.pidfd)
        self.forked_pid = self.pidfd = None

    async def cleanup(self, restart=False):
        self._forget()
        await super().cleanup(restart)


def start_template():
    """Called from the server config when the template is on: spawns it before any kernel start."""
    import atexit

    template = KernelTemplate.instance()
    template.start()
    atexit.register(template.close)
