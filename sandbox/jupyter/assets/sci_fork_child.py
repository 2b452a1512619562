# What a process forked from the kernel template (kernel_template.py) does to stop being the
# template and become what it was forked for: a kernel (become_kernel), a spare kernel that later
# becomes one (become_spare, sci_spare_kernel.py), or a one-shot run (become_one_shot; or
# become_spare_run, forked ahead). Each leaves the template first (its own session, the template's
# signal handling and descriptors gone) and then takes its request: uid, command line, working dir
# and env.
#
# Every step here is paid by each run and kernel start: what does not depend on the child is read
# once in the template (the argument area, libc's prctl), and signal handlers are set through
# _signal, without the signal module's enum conversions (together ~3 ms of CPU per child, measured
# in a fresh child on a 2-core VM).
import _signal
import ctypes
import gc
import json
import os
import resource
import select
import signal
import socket
import sys

from tornado.ioloop import IOLoop

import sci_copied_pages
import sci_kernel_ipc
import sci_spare_kernel

PR_SET_DUMPABLE = 4
# How long a kernel's rehearsal runs its event loop once it has started.
REHEARSAL_LOOP_S = 0.1
prctl = ctypes.CDLL(None, use_errno=True).prctl


def _argument_area():
    fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    return int(fields[45]), int(fields[46])


# The template's (this module is imported there), at the same address in each of its children.
ARGUMENT_AREA = _argument_area()


def set_cmdline(argv):
    # Shows the kernel's own command line in ps and /proc/<pid>/cmdline, as a cold kernel has: the
    # template was started with room to spare in its argument area (see the provisioner).
    start, end = ARGUMENT_AREA
    data = "\0".join(argv).encode()[: end - start - 1]
    ctypes.memmove(start, data + b"\0" * (end - start - len(data)), end - start)


def watch_server(pidfd):
    import threading

    def watch():
        select.select([pidfd], [], [])
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="sci-server-watch", daemon=True).start()


def detach(template, request, argv):
    """In the forked child: leaves the template for the request's uid, dir and env."""
    leave_template(template, [request["fd"]] if "fd" in request else [])
    return take_request(request, argv)


def leave_template(template, own_fds):
    """In a forked child: its own session, no signal handler or descriptor of the template's."""
    os.setsid()
    _signal.set_wakeup_fd(-1)
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    keep = {template.server_pidfd, *own_fds}
    # IPython opens /dev/null at import and closes it at exit: kept open, so that its close at
    # exit cannot close whatever else got that descriptor number.
    devnull = getattr(sys.modules.get("IPython.utils.io"), "devnull", None)
    if devnull is not None and not devnull.closed:
        keep.add(devnull.fileno())
    keep = sorted(keep)
    template.control.detach()
    start = 3
    for fd in keep:
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, 1 << 20)
    watch_server(template.server_pidfd)


def take_request(request, argv):
    """In a forked child or a spare: becomes the request's uid, command line, dir and env."""
    uid = request.get("uid")
    if uid is not None:
        if request.get("nproc"):
            resource.setrlimit(resource.RLIMIT_NPROC, (request["nproc"],) * 2)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        os.umask(0o077)
    # After the uid change, which clears it: the kernel's own uid may read its /proc entries.
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    set_cmdline(argv)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # random is re-seeded at the fork (kernel_template.fork); numpy's is not.
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    gc.enable()
    import builtins
    import types

    main = types.ModuleType("__main__")
    main.__file__ = argv[1]
    main.__builtins__ = builtins  # the module, as in a __main__ (this module's own is a dict)
    sys.modules["__main__"] = main
    sys.argv = argv[1:]
    return main


def become_kernel(template, request):
    """In the forked child: detach from the template, then run the launcher as __main__."""
    sci_copied_pages.copy_now(template.kernel_pages)
    main = detach(template, request, request["argv"])
    exec(request["code"], main.__dict__)


def become_spare(template, fd):
    """In a spare: readies a kernel, waits for its request, then is that kernel."""
    leave_template(template, [fd])
    sci_copied_pages.copy_now(template.kernel_pages)
    sock = socket.socket(fileno=fd)
    set_cmdline([sys.executable, sci_spare_kernel.__file__])
    app, info = sci_spare_kernel.prepare(template.spare_transport)
    sock.send(json.dumps(info).encode())
    request = sci_spare_kernel.wait_for_request(sock)
    take_request(request, request["argv"])
    sci_spare_kernel.finish(app, request["argv"])


def rehearse_kernel(template, report_fd):
    """In a throwaway child: a kernel's start as a spare's, for a made-up request; reports the pages
    it copied."""
    import shutil
    import tempfile

    before = sci_copied_pages.snapshot()
    leave_template(template, [report_fd])
    app, info = sci_spare_kernel.prepare(template.spare_transport)
    home = tempfile.mkdtemp(prefix="sci-rehearsal-")
    try:
        argv = [sys.executable, sci_spare_kernel.LAUNCHER, "-f", os.path.join(home, "kernel.json")]
        take_request({"uid": None, "cwd": home, "env": dict(os.environ, HOME=home)}, argv)
        sci_spare_kernel.initialize(app, argv)
        # Into the kernel's event loop for a moment, asked for its kernel_info on the shell and
        # control channels as Jupyter Server asks each new kernel: the start's IOPub messages, the
        # control thread's own loop and the first messages' handling copy pages too.
        clients = [app.connect_shell(), app.connect_control()]  # jupyter_client's, as a client's
        for client in clients:
            app.session.send(client, "kernel_info_request")
        loop = IOLoop.current()
        loop.call_later(REHEARSAL_LOOP_S, loop.stop)
        app.start()
        copied = sci_copied_pages.copied_since(before)
        for client in clients:
            client.close(linger=0)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if info["transport"] == "ipc":
            sci_kernel_ipc.remove_ipc_dir(os.path.dirname(info["ip"]))
    with open(report_fd, "w") as report:
        json.dump(copied, report)


def become_one_shot(template, request):
    import sci_one_shot

    sci_copied_pages.copy_now(template.run_pages)
    detach(template, request, [sys.executable, sci_one_shot.__file__])
    sci_one_shot.run(request["fd"])


def become_spare_run(template, fd):
    """In a spare run: copies and leaves the template ahead, then waits for its request and the
    run's socket, and is that run."""
    import sci_one_shot

    sci_copied_pages.copy_now(template.run_pages)
    leave_template(template, [fd])
    sock = socket.socket(fileno=fd)
    sock.send(b"{}")  # ready
    data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 1)
    sock.close()
    if not data or len(fds) != 1:  # the template is gone
        os._exit(0)
    take_request(json.loads(data), [sys.executable, sci_one_shot.__file__])
    sci_one_shot.run(fds[0])


def rehearse_one_shot(template, report_fd):
    """In a throwaway child: a one-shot run of a fixed cell for a made-up request (its cell fed and
    its messages left unread on a socket of its own); reports the pages it copied."""
    import shutil
    import tempfile

    import sci_one_shot

    before = sci_copied_pages.snapshot()
    run, feed = socket.socketpair()
    feed.sendall(json.dumps({"code": sci_one_shot.REHEARSAL_CELL}).encode())
    feed.shutdown(socket.SHUT_WR)
    home = tempfile.mkdtemp(prefix="sci-rehearsal-")
    leave_template(template, [run.fileno(), feed.fileno(), report_fd])
    env = dict(os.environ, HOME=home)
    take_request({"uid": None, "cwd": home, "env": env}, [sys.executable, sci_one_shot.__file__])

    def report():
        copied = sci_copied_pages.copied_since(before)
        shutil.rmtree(home, ignore_errors=True)
        with open(report_fd, "w") as out:
            json.dump(copied, out)

    sci_one_shot.run(run.fileno(), before_exit=report)
