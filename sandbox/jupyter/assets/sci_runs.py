# POST /sci/runs: one cell in a one-shot run forked from the kernel template (sci_one_shot.py), a
# Jupyter Server extension (enabled in jupyter_server_config.py). The server stays the owner of
# every process it starts: a run is the template's child, watched here through a pidfd, and killed
# with its process group when it times out, when the client goes away, or once it has exited.
#
# Code that imports only the standard library runs in the stdlib template, the rest in the
# scientific one (sci_templates.py).
#
# Body: {"code", "cwd": the run's dir, "home": its home or null, "timeout_ms", "grace_ms"}; with
# kernel uids the run becomes the owner of `home` (a kernel uid), which must own `cwd` too.
# 503 {"message"} when the template cannot run it (the caller starts a kernel instead); else 200
# and application/x-ndjson: the run's messages, one {"msg_type", "content"} per line, possibly
# {"msg_type": "sci_timeout"} (then SIGINT; SIGKILL after grace_ms), and last
# {"msg_type": "sci_exit", "content": {"status": exit code, negative: killed by that signal}}.
import ast
import asyncio
import json
import os
import signal
import sys
import time

from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.iostream import StreamClosedError

from sci_kernel_uids import kernel_uid, uid_env
from sci_templates import STDLIB, KernelTemplate, TemplateUnavailable

KERNEL_NAME = "sci-python"
# How long a run's messages are still read once it has exited: a process it forked may hold the
# socket open past that.
DRAIN_S = 1.0
EXIT_STATUS_TIMEOUT_S = 5.0
# Longer code goes to the scientific template unparsed: parsing blocks the server's loop.
STDLIB_PARSE_MAX_CHARS = 64 * 1024
_spec_env = None


def imports_only_stdlib(code):
    """Whether the code, as Python, imports nothing beyond the standard library. IPython's own
    syntax (magics, !shell) does not parse: the scientific template takes it, as it takes code that
    imports anything else. Imports made another way (importlib, exec) still work in the stdlib
    template: they only take their import time."""
    if len(code) > STDLIB_PARSE_MAX_CHARS:
        return False
    try:
        tree = ast.parse(code)
    except Exception:  # SyntaxError, or deep nesting's RecursionError: the scientific one runs it
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else [""]
        else:
            continue
        if any(name.partition(".")[0] not in sys.stdlib_module_names for name in names):
            return False
    return True


def templates_for(code):
    """The templates to try for a run, in order: the stdlib one first when the code fits it (it
    is off until the scientific one has started it)."""
    scientific = KernelTemplate.instance()
    if not (scientific.enabled and imports_only_stdlib(code)):
        return [scientific]
    return [KernelTemplate.instance(STDLIB), scientific]


def _line(msg_type, content):
    return json.dumps({"msg_type": msg_type, "content": content}).encode() + b"\n"


def _kill_group(pid, signum):
    try:
        os.killpg(pid, signum)
    except OSError:
        pass


class RunHandler(APIHandler):
    run_pid = None

    def _fail(self, status, message):
        self.set_status(status)
        self.finish(json.dumps({"message": message}))

    def _body(self):
        body = self.get_json_body()
        root = os.path.realpath(self.settings["server_root_dir"])

        def inside(path):
            return isinstance(path, str) and os.path.isabs(path) and (
                os.path.commonpath([root, os.path.realpath(path)]) == root
            )

        def positive(value):
            return isinstance(value, int) and not isinstance(value, bool) and value > 0

        if not (
            isinstance(body, dict)
            and isinstance(body.get("code"), str)
            and inside(body.get("cwd"))
            and (body.get("home") is None or inside(body["home"]))
            and positive(body.get("timeout_ms"))
            and positive(body.get("grace_ms"))
        ):
            raise web.HTTPError(400, "expected {code, cwd, home, timeout_ms, grace_ms}")
        return body

    def _env(self, cwd, home):
        uid = kernel_uid(home or cwd)
        if uid is not None and os.stat(cwd).st_uid != uid:
            raise web.HTTPError(400, "cwd is not owned by the run's uid")
        global _spec_env
        if _spec_env is None:  # written before the server started, never changed after
            _spec_env = self.kernel_spec_manager.get_kernel_spec(KERNEL_NAME).env
        env = {**os.environ, **_spec_env}
        env.pop("PYTHONEXECUTABLE", None)
        return uid, (uid_env(env, home, uid) if uid is not None else env)

    @web.authenticated
    async def post(self):
        body = self._body()
        try:
            uid, env = self._env(body["cwd"], body["home"])
        except (OSError, RuntimeError) as error:
            raise web.HTTPError(400, str(error)) from None
        started = time.monotonic()
        for template in templates_for(body["code"]):
            try:
                pid, pidfd, sock = await template.run(env, body["cwd"], uid)
                break
            except TemplateUnavailable as error:
                unavailable = error
        else:
            return self._fail(503, str(unavailable))
        self.run_pid = pid
        status = None
        try:
            status = await self._relay(template, pid, pidfd, sock, body)
        finally:
            _kill_group(pid, signal.SIGKILL)
            os.close(pidfd)
            sock.close()
            template.forget(pid)
            self.log.info(
                "sci-run pid=%d template=%s ms=%.1f status=%s",
                pid,
                template.flavour,
                (time.monotonic() - started) * 1000,
                status,
            )

    async def _relay(self, template, pid, pidfd, sock, body):
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
        writer.write(json.dumps({"code": body["code"]}).encode())
        writer.write_eof()
        exited = loop.create_future()

        def on_exit():
            # A pidfd stays readable once its process has exited: watched on, it would wake the
            # loop at every turn until this run's relay ends.
            loop.remove_reader(pidfd)
            exited.set_result(None)

        loop.add_reader(pidfd, on_exit)
        timers = []

        def time_out():
            self.write(_line("sci_timeout", {}))
            _kill_group(pid, signal.SIGINT)
            timers.append(loop.call_later(body["grace_ms"] / 1000, _kill_group, pid, signal.SIGKILL))

        timers.append(loop.call_later(body["timeout_ms"] / 1000, time_out))
        self.set_header("Content-Type", "application/x-ndjson")
        pending = []  # the start of a line not yet complete
        drain_until = None
        try:
            while True:
                read = asyncio.ensure_future(reader.read(1 << 16))
                waits = {read} if exited.done() else {read, exited}
                timeout = None if drain_until is None else max(0.0, drain_until - loop.time())
                done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if exited in done and drain_until is None:
                    # Whatever the run left in its group goes now; a process that left the group
                    # may still hold the socket: read on for a moment only.
                    _kill_group(pid, signal.SIGKILL)
                    drain_until = loop.time() + DRAIN_S
                if read not in done:
                    read.cancel()
                    if drain_until is not None and loop.time() >= drain_until:
                        break
                    continue
                try:
                    chunk = read.result()
                except ConnectionResetError:  # the run exited with our code unread
                    chunk = b""
                if not chunk:
                    break
                # Whole lines only, so that a sci_timeout line never lands inside one.
                end = chunk.rfind(b"\n") + 1
                if end == 0:
                    pending.append(chunk)
                    continue
                self.write(b"".join([*pending, chunk[:end]]))
                pending = [chunk[end:]]
                await self.flush()
            try:
                status = await asyncio.wait_for(template.wait_exit(pid), EXIT_STATUS_TIMEOUT_S)
            except asyncio.TimeoutError:
                status = None
            self.write(_line("sci_exit", {"status": status}))
            await self.finish()
            return status
        except StreamClosedError:
            return "client-gone"
        finally:
            for timer in timers:
                timer.cancel()
            loop.remove_reader(pidfd)
            writer.close()

    def on_connection_close(self):
        # The client went away (or gave up at its own deadline): nothing reads the run any more.
        if self.run_pid is not None:
            _kill_group(self.run_pid, signal.SIGKILL)


def _jupyter_server_extension_points():
    return [{"module": "sci_runs"}]


def _load_jupyter_server_extension(serverapp):
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [(base_url.rstrip("/") + "/sci/runs", RunHandler)])
