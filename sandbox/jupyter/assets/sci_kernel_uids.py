# Kernel uids of the process runtime (SCI_KERNEL_UIDS, read by jupyter_server_config.py): every
# kernel, forked or cold, Python or not, runs as the owner of the directory it starts in, which
# the sandbox service made for one uid of the range (sandbox/runtimes/process/uids.ts); a start
# directory owned by anyone else is refused. Used by sci_kernel_provisioner.py.
import os
import resource


class KernelUids:
    """The uid range kernels run in and their process limit; count 0: kernels run as the server."""

    start = 0
    count = 0
    nproc = 0


def configure_uids(spec):
    """Called from the server config with "start:count:nproc", or "" to keep uids off."""
    if spec:
        KernelUids.start, KernelUids.count, KernelUids.nproc = (int(part) for part in spec.split(":"))


def kernel_uid(cwd):
    """The uid a kernel starting in `cwd` runs as, or None when uids are off."""
    if KernelUids.count == 0:
        return None
    uid = os.stat(cwd).st_uid
    if not KernelUids.start <= uid < KernelUids.start + KernelUids.count:
        raise RuntimeError(f"refusing to start a kernel in {cwd}: not owned by a kernel uid")
    return uid


def uid_env(env, home, uid):
    # Everything a kernel or a library writes by default goes under its own home (mode 0700);
    # there is no passwd entry for the uid, so getpass and friends read USER and LOGNAME.
    name = f"sandbox{uid}"
    return {
        **env,
        "HOME": home,
        "TMPDIR": home,
        "USER": name,
        "LOGNAME": name,
        "IPYTHONDIR": os.path.join(home, ".ipython"),
        "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
    }


def drop_nproc():
    # After Popen's setuid (preexec_fn runs as the kernel's uid): a fork bomb stops at this many
    # processes and threads of its own uid, not of the whole service.
    if KernelUids.nproc > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (KernelUids.nproc, KernelUids.nproc))
