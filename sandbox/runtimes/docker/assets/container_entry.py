# Entry of a "docker" (and "swarm") runtime context container (see sandbox/runtimes/docker/runtime.ts
# and sandbox/runtimes/swarm/). The service
# runs it as `python3 -c <jupyter_tuning.py + this file>`, so the entry always matches the service
# that started the container, whatever the image's age; the kernel launchers come from the image.
#
# It starts a Jupyter Server that listens only on a UNIX socket in a directory the service shares
# with the container (no TCP port, so the container can run with network "none"), with:
# - the token from a file the service wrote there, read and deleted before anything else runs
#   (never in the environment, `docker inspect` or /proc/1/environ);
#   the swarm runtime instead sets SCI_PORT (TCP on an internal overlay network, no shared
#   directory) and SCI_TOKEN_FILE (a Swarm secret of the context's own);
# - the kernelspecs the service passed in SCI_KERNELSPECS (its own launchers, at their image paths);
# - /sci/files: the context's files under /workspace, read and written inside the container without
#   following symlinks, streamed both ways (the service never touches the container's files itself).
import errno
import json
import os
import shutil
import signal
import stat
import sys
import time
from datetime import datetime, timezone

from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.serverapp import ServerApp
from tornado import web
from traitlets.config import Config

WORKSPACE = "/workspace"
CHUNK = 256 * 1024


def _take_env(name):
    value = os.environ.pop(name, None)
    if value is None:
        sys.exit(f"container entry: {name} is not set")
    return value


def _read_token(path):
    with open(path, encoding="ascii") as f:
        token = f.read().strip()
    try:
        os.unlink(path)
    except OSError:
        pass  # a Swarm secret (swarm runtime) is read-only; it holds this context's token alone
    if len(token) < 32:
        sys.exit("container entry: the token file is empty")
    return token


def _write_kernelspecs(data_dir, specs):
    for name, spec in specs.items():
        spec_dir = os.path.join(data_dir, "kernels", name)
        os.makedirs(spec_dir, exist_ok=True)
        with open(os.path.join(spec_dir, "kernel.json"), "w", encoding="utf-8") as f:
            json.dump(spec, f)


# ---- Files of the workspace. Every path is walked one component at a time from an open
# descriptor of /workspace with O_NOFOLLOW, so a symlink planted by user code is never followed and
# a directory swapped for a link mid-request cannot redirect us.


class FileError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _parts(relative):
    if relative in ("", "."):
        return []
    if "\0" in relative or "\\" in relative or relative.startswith("/"):
        raise FileError(400, "INVALID_PARAMS", f"Invalid path {relative!r}")
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise FileError(400, "INVALID_PARAMS", f"Invalid path {relative!r}: must not contain '..'")
    return parts


def _os_error(relative, error):
    if error.errno == errno.ENOENT:
        return FileError(404, "FILE_NOT_FOUND", f"No such file or directory: {relative}")
    if error.errno == errno.ELOOP:
        return FileError(400, "INVALID_PARAMS", f"{relative} is a symbolic link; links are not followed")
    if error.errno == errno.ENOTDIR:
        return FileError(400, "INVALID_PARAMS", f"{relative}: not a directory")
    if error.errno == errno.EISDIR:
        return FileError(400, "INVALID_PARAMS", f"{relative}: is a directory")
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return FileError(507, "disk", "The context's /workspace is full")
    if error.errno in (errno.EACCES, errno.EPERM):
        return FileError(400, "INVALID_PARAMS", f"{relative}: permission denied")
    return error


def _check_not_link(dir_fd, name, fd):
    """Closes `fd` and fails with ELOOP unless `name` in `dir_fd` is, unfollowed, what `fd` opened.
    gVisor (runsc 2022-12) follows a symlink despite O_NOFOLLOW when O_DIRECTORY is set: this
    check holds whatever the kernel, and a swap between the open and the check fails it too."""
    opened = os.fstat(fd)
    try:
        named = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        named = None
    if named is None or (named.st_dev, named.st_ino) != (opened.st_dev, opened.st_ino):
        os.close(fd)
        raise OSError(errno.ELOOP, "a symbolic link", name)


def _open_dir(parts, relative, create=False):
    """Opens the directory `parts` below /workspace; returns its descriptor (caller closes)."""
    fd = os.open(WORKSPACE, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            _check_not_link(fd, part, child)
            os.close(fd)
            fd = child
        return fd
    except OSError as error:
        os.close(fd)
        raise _os_error(relative, error) from error


def _open_file(relative, flags):
    parts = _parts(relative)
    if not parts:
        raise FileError(400, "INVALID_PARAMS", "The path names the working directory")
    creating = bool(flags & os.O_CREAT)
    dir_fd = _open_dir(parts[:-1], relative, create=creating)
    try:
        fd = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
        _check_not_link(dir_fd, parts[-1], fd)
    except OSError as error:
        raise _os_error(relative, error) from error
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise FileError(400, "INVALID_PARAMS", f"{relative} is not a regular file")
    if st.st_nlink > 1:
        os.close(fd)
        raise FileError(400, "INVALID_PARAMS", f"{relative} has hard links; it is not served")
    return fd


def _describe(dir_fd, name, relative):
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    kind = (
        "directory"
        if stat.S_ISDIR(st.st_mode)
        else "symlink"
        if stat.S_ISLNK(st.st_mode)
        else "file"
    )
    return {
        "name": name,
        "path": f"{relative}/{name}" if relative else name,
        "type": kind,
        "size": st.st_size,
        "modified": datetime.fromtimestamp(st.st_mtime, timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }


class _FilesBase(JupyterHandler):
    def check_xsrf_cookie(self):
        # Token in the Authorization header only; there are no browsers on a UNIX socket.
        return

    def prepare(self):
        super().prepare()
        if not self.current_user:
            raise web.HTTPError(403)

    def fail(self, error):
        self.clear()
        self.set_status(error.status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"code": error.code, "message": error.message}))


class ListHandler(_FilesBase):
    def get(self):
        relative = self.get_argument("path", "")
        limit = int(self.get_argument("limit", "1000"))
        try:
            fd = _open_dir(_parts(relative), relative)
        except FileError as error:
            return self.fail(error)
        entries, truncated = [], False
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    if len(entries) == limit:
                        truncated = True
                        break
                    try:
                        entries.append(_describe(fd, entry.name, relative.strip("/")))
                    except FileNotFoundError:
                        continue
        finally:
            os.close(fd)
        self.finish({"entries": entries, "truncated": truncated})


class MkdirHandler(_FilesBase):
    def post(self):
        relative = self.get_argument("path")
        try:
            os.close(_open_dir(_parts(relative), relative, create=True))
        except FileError as error:
            return self.fail(error)
        self.finish({"path": relative})


@web.stream_request_body
class ContentHandler(_FilesBase):
    upload_fd = None
    upload_error = None
    written = 0

    def prepare(self):
        super().prepare()
        if self.request.method != "PUT":
            return
        self.relative = self.get_argument("path")
        self.max_bytes = int(self.get_argument("max_bytes"))
        self.request.connection.set_max_body_size(self.max_bytes + 1)
        try:
            self.upload_fd = _open_file(self.relative, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        except FileError as error:
            self.upload_error = error

    def data_received(self, chunk):
        if self.upload_fd is None:
            return
        self.written += len(chunk)
        if self.written > self.max_bytes:
            self._abort_upload(FileError(413, "file_size", f"File is larger than {self.max_bytes} bytes"))
            return
        try:
            view = memoryview(chunk)
            while view:
                view = view[os.write(self.upload_fd, view) :]
        except OSError as error:
            self._abort_upload(_os_error(self.relative, error))

    def on_connection_close(self):
        # The service gave up mid-upload (over its size limit, or its client went away).
        if self.upload_fd is not None:
            self._abort_upload(None)

    def _abort_upload(self, error):
        os.close(self.upload_fd)
        self.upload_fd = None
        self.upload_error = error
        try:
            _remove(self.relative)
        except (FileError, OSError):
            pass

    def put(self):
        if self.upload_error is not None:
            return self.fail(self.upload_error)
        os.close(self.upload_fd)
        self.upload_fd = None
        self.set_status(201)
        self.finish({"path": self.relative, "size": self.written})

    async def get(self):
        relative = self.get_argument("path")
        try:
            fd = _open_file(relative, os.O_RDONLY)
        except FileError as error:
            return self.fail(error)
        try:
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Length", str(os.fstat(fd).st_size))
            while True:
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    break
                self.write(chunk)
                await self.flush()
        finally:
            os.close(fd)
        self.finish()

    def delete(self):
        relative = self.get_argument("path")
        try:
            _remove(relative)
        except FileError as error:
            return self.fail(error)
        self.finish({"path": relative})


def _remove(relative):
    parts = _parts(relative)
    if not parts:
        raise FileError(400, "INVALID_PARAMS", "Refusing to remove the working directory")
    dir_fd = _open_dir(parts[:-1], relative)
    try:
        st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(parts[-1], dir_fd=dir_fd)
        else:
            os.unlink(parts[-1], dir_fd=dir_fd)
    except OSError as error:
        raise _os_error(relative, error) from error
    finally:
        os.close(dir_fd)


# ---- Every process a kernel leaves behind dies with it. Jupyter kills only the kernel's process
# group, once: a fork bomb's children (or anything that called setsid) outlive it, keep the pids
# limit full, and the new kernel of a restart could not even start. This container runs one
# context: once its kernel is gone, any process but tini (1), this server and the service's
# `docker exec` relays is the kernel's. A relay (exec'd by the engine) has no parent in the
# container (ppid 0), which nothing user code forks can have: orphans are adopted by tini.


def _kill_leftovers():
    me = os.getpid()
    for _ in range(200):
        alive = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in (1, me):
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
                if state != "Z" and ppid != "0":
                    os.kill(int(entry), signal.SIGKILL)
                    alive = True
            except (OSError, IndexError):
                continue
        if not alive:
            return
        time.sleep(0.005)


_cleanup = LocalProvisioner.cleanup


async def _cleanup_and_kill_leftovers(self, restart=False):
    await _cleanup(self, restart=restart)
    _kill_leftovers()


LocalProvisioner.cleanup = _cleanup_and_kill_leftovers


class SandboxServerApp(ServerApp):
    def init_webapp(self):
        super().init_webapp()
        self.web_app.add_handlers(
            ".*$",
            [
                (r"/sci/files/list", ListHandler),
                (r"/sci/files/mkdir", MkdirHandler),
                (r"/sci/files/content", ContentHandler),
            ],
        )


def main():
    # The swarm runtime has no directory shared with the service: TCP on an internal overlay
    # network, with the token in a Swarm secret. The docker runtime: a UNIX socket.
    port = os.environ.pop("SCI_PORT", None)
    run_dir = None if port else _take_env("SCI_RUN_DIR")
    token_file = _take_env("SCI_TOKEN_FILE") if port else os.path.join(run_dir, "token")
    token = _read_token(token_file)
    if not os.access(WORKSPACE, os.W_OK):
        # A Swarm service's tmpfs takes the mode of the image's directory (see Dockerfile.sandbox).
        sys.exit(f"container entry: {WORKSPACE} is not writable; the image must make it mode 1777")
    specs = json.loads(_take_env("SCI_KERNELSPECS"))
    # The image's defaults for the service (SANDBOX_HOST, …) mean nothing to a context's kernels.
    for name in [n for n in os.environ if n.startswith("SANDBOX_")]:
        del os.environ[name]
    home = os.environ["HOME"]
    data_dir = os.path.join(home, ".sci-jupyter", "data")
    runtime_dir = os.path.join(home, ".sci-jupyter", "runtime")
    os.makedirs(runtime_dir, mode=0o700, exist_ok=True)
    _write_kernelspecs(data_dir, specs)
    os.environ.update(
        JUPYTER_PATH=data_dir,
        JUPYTER_DATA_DIR=data_dir,
        JUPYTER_CONFIG_DIR=os.path.join(home, ".sci-jupyter", "config"),
        JUPYTER_RUNTIME_DIR=runtime_dir,
    )

    c = Config()
    if port:
        c.ServerApp.ip = "0.0.0.0"
        c.ServerApp.port = int(port)
        c.ServerApp.port_retries = 0
        # The service reaches it by the task's overlay address, which Jupyter's Host check refuses.
        c.ServerApp.allow_remote_access = True
    else:
        c.ServerApp.sock = os.path.join(run_dir, "jupyter.sock")
        # The directory is private to this container and the service (whose user may differ).
        c.ServerApp.sock_mode = "0666"
    c.ServerApp.token = token
    c.ServerApp.root_dir = WORKSPACE
    tune_jupyter_server(c)  # noqa: F821 (from jupyter_tuning.py, prepended by the service)
    SandboxServerApp.launch_instance(argv=[], config=c)


main()
