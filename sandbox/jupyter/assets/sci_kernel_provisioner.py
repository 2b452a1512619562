# Kernel provisioner that starts Python kernels by forking them from a warm template process
# (kernel_template.py, run by sci_templates.py) instead of starting a new interpreter: about 0.6 s
# of imports saved per kernel. Runs inside the Jupyter Server, which stays the owner of every
# kernel: poll, signals, interrupt, restart, shutdown and kill all go through here as with
# jupyter_client's LocalProvisioner, which this extends and falls back to (a Popen of the
# kernelspec's argv) when the template is off, still starting after a respawn, dead or unable to
# fork.
#
# Found by jupyter_client through the entry point in sci_kernel_template-1.0.dist-info (this
# directory is on the server's sys.path); a kernelspec asks for it in
# metadata.kernel_provisioner.provisioner_name = "sci-template-provisioner".
#
# A forked kernel is the template's child, not ours: we watch it through a pidfd the template
# sends with each fork (taken before the template can reap it, so it names that process and no
# later one with the same pid), and learn its exit status from the template's report.
#
# A first start takes the template's spare kernel when one is ready (sci_spare_kernel.py): bound
# to ports and a key of its own, which launch_kernel returns for Jupyter to write into the kernel's
# connection file; the spare's ports then stand in for those Jupyter picked, in its port cache
# too, so that restarts keep them as they keep a forked kernel's. Restarts fork: a restart gets a
# kernel on the same ports, which an open WebSocket's channels stay connected to.
#
# Kernel uids (sci_kernel_uids.py): every kernel, forked or cold, Python or not, runs as the owner
# of the directory it starts in when they are on, and Python kernels then talk over Unix sockets in
# a directory of their uid's (sci_kernel_ipc.py), a spare's over those in its own directory, which
# its kernel's uid is given.
import asyncio
import os
import select
import signal
import sys
import time
from concurrent.futures import Future

from ipykernel._version import kernel_protocol_version
from jupyter_client.connect import LocalPortCache
from jupyter_client.provisioning import LocalProvisioner
from sci_kernel_ipc import kernel_ipc_dir, make_ipc_dir, remove_ipc_dir, use_ipc
from sci_kernel_ports import PORT_NAMES, release_taken_ports
from sci_kernel_uids import drop_nproc, kernel_uid, uid_env
from sci_templates import UNKNOWN_EXIT, KernelTemplate, TemplateUnavailable


def forkable(cmd):
    # The template runs Python launchers with its own interpreter.
    return len(cmd) >= 2 and cmd[1].endswith(".py") and os.path.realpath(cmd[0]) == os.path.realpath(sys.executable)


class TemplateProvisioner(LocalProvisioner):
    """LocalProvisioner whose kernels are forked from the template when it can."""

    forked_pid = None
    pidfd = None
    launched = False
    uid = None
    ipc_dirs = ()

    @property
    def has_process(self):
        return self.forked_pid is not None or super().has_process

    async def pre_launch(self, **kwargs):
        km = self.parent
        if km is not None and self.kernel_spec.language == "python" and km.transport == "tcp":
            uid = kernel_uid(kwargs.get("cwd") or os.getcwd())
            directory = kernel_ipc_dir(os.path.dirname(km.connection_file), self.kernel_id)
            if uid is not None and directory is None:
                self.log.warning("sci-kernel-ipc kernel=%s: path too long, on TCP", self.kernel_id)
            elif uid is not None:
                make_ipc_dir(directory, uid)
                use_ipc(km, directory)
                self.ipc_dirs = (directory,)
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
        uid = self.uid = kernel_uid(cwd)
        first, self.launched = not self.launched, True
        if uid is not None:
            # Its own connection file is the one it may read (ipykernel and tslab load it at start);
            # the runtime dir lets it reach that file by name, and list nothing.
            os.chown(self.parent.connection_file, uid, uid)
            kwargs["env"] = uid_env(kwargs["env"], cwd, uid)
        reason = None if forkable(cmd) else "the kernelspec does not run a Python launcher"
        if reason is None:
            try:
                pid, pidfd, spare = await template.fork(cmd, kwargs["env"], cwd, uid, spare=first)
            except TemplateUnavailable as error:
                reason = str(error)
            else:
                self.forked_pid = self.pid = self.pgid = pid
                self.pidfd = pidfd
                if spare is not None:
                    self._take_ports(spare)
                path = "template" if spare is None else "spare"
                template.count(path)
                self.log.info(
                    "sci-kernel-start kernel=%s path=%s pid=%d ms=%.1f",
                    self.kernel_id,
                    path,
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

    def _take_ports(self, spare):
        if spare["transport"] == "ipc":
            # Its kernel's restarts bind the same socket files, as its uid.
            directory = os.path.dirname(spare["ip"])
            if self.uid is not None:
                make_ipc_dir(directory, self.uid)
            for unused in self.ipc_dirs:
                remove_ipc_dir(unused)
            self.ipc_dirs = (directory,)
        elif self.ports_cached:
            cache = LocalPortCache.instance()
            for name in PORT_NAMES:
                cache.return_port(self.connection_info[name])
                cache.currently_used_ports.add(spare[name])
        self.connection_info = {**self.connection_info, **spare, "key": spare["key"].encode()}

    async def post_launch(self, **kwargs):
        km = self.parent
        # Jupyter wrote a spare's connection info into a new file, ours: the kernel's to read.
        if self.uid is not None and km is not None:
            os.chown(km.connection_file, self.uid, self.uid)
        if self.kernel_spec.language == "python" and km is not None:
            # Before it opens the first WebSocket to a kernel, Jupyter Server asks the kernel for
            # its protocol version (kept on the kernel's manager), and so waits for its start: ours
            # is known, the launcher runs this ipykernel. The WebSocket's channels then connect
            # while the kernel starts; the client's own kernel_info tells it the kernel is ready.
            info = Future()
            info.set_result({"protocol_version": kernel_protocol_version})
            km._kernel_info_future = info
        await super().post_launch(**kwargs)

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
        if not restart:
            for directory in self.ipc_dirs:
                remove_ipc_dir(directory)
        await super().cleanup(restart)
