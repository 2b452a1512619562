# A spare Python kernel: forked from the kernel template (kernel_template.py) before anyone asks for
# a kernel, it does the part of a kernel's start that depends on nothing of the request (the ZMQ
# context, its five sockets bound to ports of its own with a key of its own, the heartbeat and
# IOPub threads, stdout and stderr redirected, signals), tells the template how to connect to it,
# and waits. A start then only sends it the request: it becomes the request's uid, working dir and
# env (as a kernel forked for that request would: sci_fork_child.take_request), and finishes the
# start from the profile dir on: config files, memory cap, the kernel and its shell, extensions
# and startup code, all of which read the request's home, env and cwd. The provisioner hands the
# spare's connection info to Jupyter, which rewrites the kernel's connection file with it.
#
# Nothing of the request's is touched before the request comes, and the spare never runs user code
# until it is that kernel: it runs as the template's user, outside every kernel's process group,
# and its key is its own. A kernel's config files (read after the request) can still change
# anything but its sockets, which are already bound: the spare's ports, ip and transport stay.
import json
import os
import sys

from sci_kernel_ports import PORT_NAMES

# The launcher whose start a spare stands in for: a request with any other argv is forked as usual.
LAUNCHER = os.path.join(os.path.dirname(os.path.realpath(__file__)), "python_kernel.py")


class Spare:
    """The template's end of a spare: its pid, a pidfd and a socket; ready once its info came."""

    def __init__(self, pid, sock):
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)  # before any reap, so it is this child's
        self.sock = sock
        self.info = None

    def close(self):
        self.sock.close()
        os.close(self.pidfd)


def stands_in_for(argv):
    return len(argv) == 4 and os.path.realpath(argv[1]) == LAUNCHER and argv[2] == "-f"


def prepare(transport):
    """In the spare: starts the kernel app up to its sockets; returns it and its connection info."""
    from ipykernel.kernelapp import IPKernelApp

    import sci_fast_init
    import sci_kernel_ipc
    import sci_prebuilt_shell

    sci_fast_init.start()
    app = IPKernelApp.instance(config=sci_prebuilt_shell.kernel_config())
    if transport == "ipc":
        # Its own directory, the template's user's until a start gives it to the kernel's uid.
        from jupyter_core.paths import jupyter_runtime_dir

        directory = sci_kernel_ipc.kernel_ipc_dir(jupyter_runtime_dir(), f"spare-{os.getpid()}")
        if directory is None:
            raise RuntimeError("the Jupyter runtime dir is too long a path for socket files")
        sci_kernel_ipc.make_ipc_dir(directory, os.getuid())
        app.transport = "ipc"
        app.ip = os.path.join(directory, "k")
    app._init_asyncio_patch()
    app.init_sockets()
    app.init_heartbeat()
    app.init_io()
    app.init_signal()
    info = {name: getattr(app, name) for name in PORT_NAMES}
    info.update(
        ip=app.ip,
        transport=app.transport,
        key=app.session.key.decode(),
        signature_scheme=app.session.signature_scheme,
    )
    return app, info


def finish(app, argv):
    """In the kernel the spare became: the rest of its start."""
    initialize(app, argv)
    sys.stdout.flush()
    sys.stderr.flush()
    app.start()


def initialize(app, argv):
    """The rest of IPKernelApp.initialize, for the request's launcher arguments in `argv`."""
    from IPython.core.application import BaseIPythonApplication

    import sci_fast_init
    import sci_kernel
    import sci_prebuilt_shell

    sci_kernel.configure()
    sci_prebuilt_shell.arm(argv[2:])  # the launcher's arguments: "-f" file
    app.connection_file = argv[3]
    app.parse_command_line = lambda argv=None: None
    BaseIPythonApplication.initialize(app, [])
    app.init_pdb()
    app.init_poller()
    app.log_connection_info()
    app.init_kernel()
    app.init_path()
    app.init_shell()
    if app.shell:
        app.init_gui_pylab()
        # Extensions, exec_lines and startup files are user code, which may change classes.
        sci_fast_init.stop()
        app.init_extensions()
        app.init_code()
    sci_fast_init.stop()


def wait_for_request(sock):
    """Blocks until the template hands this spare a request; exits when the template is gone."""
    data = sock.recv(1 << 20)
    sock.close()
    if not data:
        os._exit(0)
    return json.loads(data)
