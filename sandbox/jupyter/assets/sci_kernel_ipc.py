# Python kernels on Unix sockets instead of loopback TCP when kernel uids are on. A kernel's IOPub
# socket is a ZMQ PUB, which sends every message (output, results, each cell's code: signed, not
# encrypted) to any subscriber, and a loopback port is open to every process of the machine: one
# context could read another's output. A socket file in a directory that only the kernel's uid
# (and root: the Jupyter Server) may enter is open to no other context. tslab (JavaScript,
# TypeScript) builds tcp:// addresses itself and stays on TCP.
import os
import shutil

from sci_kernel_ports import PORT_NAMES

PREFIX = "sci-ipc-"
# A Unix socket's path holds 107 bytes; ZMQ adds "-<port>" to the kernel's "ip".
MAX_PATH = 100


def kernel_ipc_dir(runtime_dir, name):
    """The directory of a kernel's socket files, or None when its path would be too long."""
    directory = os.path.join(runtime_dir, PREFIX + name)
    return directory if len(os.path.join(directory, "k-99")) <= MAX_PATH else None


def make_ipc_dir(directory, uid):
    """Makes (or takes over) a directory of socket files: mode 0700, owned by `uid`."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    os.chown(directory, uid, uid)


def use_ipc(km, directory):
    """Points a kernel manager, and so its connection file, at socket files in `directory`."""
    km.transport = "ipc"
    km.cache_ports = False
    km.ip = os.path.join(directory, "k")
    for name in PORT_NAMES:
        setattr(km, name, 0)


def remove_ipc_dir(directory):
    shutil.rmtree(directory, ignore_errors=True)
