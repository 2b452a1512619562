# The kernel's IPython shell, built once in the kernel template instead of in every forked kernel.
# Building a ZMQInteractiveShell (magics, prefilters, completer, display hook and publisher, history
# manager, user namespace) took about 13 of the 85-90 ms of CPU a forked kernel used until ready.
# The template builds it (build()) with the launcher's config (kernel_config()) after its imports;
# each forked kernel then takes its copy-on-write copy where IPythonKernel.__init__ asks for one:
# `shell_class.instance()` returns an existing singleton and ignores its arguments, so arm() hooks
# that one call and binds what the constructor would have (adopt), or drops the prebuilt shell and
# lets a fresh one be built as before (drop). Rebound in the kernel, in the constructor's order:
# - parent and kernel (the kernel then sets the display hook's and publisher's session and sockets
#   itself, after instance()), the config object, ipython_dir (from the kernel's IPYTHONDIR/HOME:
#   with kernel uids each kernel has its own home) and profile_dir (the app's);
# - process state read at construction: the working dir (starting_dir, the history's dir_hist, that
#   is _dh), the os.environ writes of init_environment (the kernel's environ is a new one),
#   sys.modules["__main__"] as the user module (save_sys_module_state, init_sys_modules; the template
#   had its own __main__ restored), the PickleShareDB of the profile (%store, %bookmark), stdin's
#   encoding, the home dir and the logger made with it, sys.excepthook and input;
# - the history session: the first in the kernel's own copy of the ":memory:" SQLite database, which
#   the template made anew (tables, no session) once the shell was built and never uses: nothing of
#   it is a file or a lock, and a fork copies it whole (a connection of its own cost each kernel and
#   run ~2 ms and 150-220 more copied pages);
# - the atexit handlers of the shell and its ScriptMagics, registered again so that they keep a cold
#   kernel's place among the kernel's own (user code's handlers still run before them);
# - magics: registering binds their methods, in the template, before the launcher patched some of
#   them (ScriptMagics.shebang): each is bound again to what its class has now.
# Left as built: what the constructor sets process-wide to fixed values, as a cold kernel does too
# (builtins __IPYTHON__ and display, sys.ps1-3). The template builds in a scratch profile, and
# leaves tempfile's cached tempdir as it was (unset), so that each kernel finds its own TMPDIR.
# Dropped, for a shell built exactly as a cold kernel's, when the kernel's app read any config file
# (e.g. ipython_kernel_config.py in the profile), was given more than "-f connection_file", has a
# config other than the template's, or asks for another shell class, namespace or compiler; also
# when anything of this fails (noted on stderr: the kernel still starts).
import atexit
import builtins
import copy
import os
import shutil
import sys
import tempfile
from pathlib import Path

from IPython.core.logger import Logger
from IPython.core.profiledir import ProfileDir
from IPython.paths import get_ipython_dir
from IPython.utils.path import ensure_dir_exists, get_home_dir
from ipykernel.compiler import XCachingCompiler
from ipykernel.zmqshell import ZMQInteractiveShell
from pickleshare import PickleShareDB
from traitlets.config import Config

# The shell this process holds and the template's config it was built with (app section left out).
_shell = None
_built_config = None
# The config section of the kernel app, which no part of the shell reads ("-f" goes in there).
APP_SECTION = "IPKernelApp"


def kernel_config():
    """The launcher's config: one source for the template's shell and the kernel app."""
    config = Config()
    config.Kernel._execute_sleep = 0
    config.HistoryManager.hist_file = ":memory:"
    return config


def _comparable(config):
    """A config as plain dicts, without the app's section or empty sections (made by reading)."""
    plain = {}
    for key, value in config.items():
        if isinstance(value, Config):
            value = _comparable(value)
            if not value:
                continue
        plain[key] = value
    return plain


def _shell_part(config):
    return {key: value for key, value in _comparable(config).items() if key != APP_SECTION}


def _script_magics(shell):
    return shell.magics_manager.registry.get("ScriptMagics")


def _unregister_atexit(shell):
    atexit.unregister(shell.atexit_operations)
    script = _script_magics(shell)
    if script is not None:
        atexit.unregister(script.kill_bg_processes)


def build():
    """In the template, after its imports: builds the shell that forked kernels adopt."""
    global _shell, _built_config
    config = kernel_config()
    scratch = None
    try:
        # A scratch profile: the constructor makes its directories and database; each kernel has its
        # own. tempfile's cached tempdir is put back: kernels inherit it, and each has its TMPDIR.
        cached_tempdir = tempfile.tempdir
        scratch = tempfile.mkdtemp(prefix="sci-shell-")
        tempfile.tempdir = cached_tempdir
        shell = ZMQInteractiveShell.instance(
            config=config,
            ipython_dir=scratch,
            profile_dir=ProfileDir(location=os.path.join(scratch, "profile_default")),
            compiler_class=XCachingCompiler,
        )
        # The template's own __main__ and sys hooks stay as they were; each kernel sets them again.
        shell.restore_sys_module_state()
        shell.history_manager.init_db()
        # The one extension every kernel's app loads: the app finds it loaded (a dropped shell's
        # kernel loads it itself).
        shell.extension_manager.load_extension("storemagic")
        # Loaded under its full name, so the app's load_extension("storemagic") would first search
        # sys.path for a top-level "storemagic" in every kernel (~2 ms), find none in a fresh home
        # and working dir, and end up here: it finds the short name loaded.
        shell.extension_manager.loaded.add("storemagic")
        _shell, _built_config = shell, _shell_part(copy.deepcopy(config))
    except Exception as error:
        print(f"kernel template: cannot prebuild the IPython shell: {error!r}", file=sys.stderr)
        _drop()
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _drop():
    global _shell
    if _shell is not None:
        _unregister_atexit(_shell)
    ZMQInteractiveShell.clear_instance()
    _shell = None


def _fits(cls, kwargs):
    kernel = kwargs.get("parent")
    return (
        cls is type(_shell)
        and _shell_part(kernel.config) == _built_config
        and kwargs.get("kernel") is kernel
        and kwargs.get("user_module") is None
        and kwargs.get("user_ns") is None
        and kwargs.get("compiler_class") is type(_shell.compile)
        and kwargs.get("profile_dir") is not None
    )


def _fits_app(argv, kwargs):
    app = getattr(kwargs.get("parent"), "parent", None)
    return len(argv) == 2 and argv[0] == "-f" and app is not None and not app.loaded_config_files


def _rebind_magics(shell):
    manager = shell.magics_manager
    for table in [manager.magics, *(magics.magics for magics in manager.registry.values())]:
        for kind in table.values():
            for name, bound in kind.items():
                func, owner = getattr(bound, "__func__", None), getattr(bound, "__self__", None)
                if func is None or owner is None:
                    continue
                current = getattr(type(owner), func.__name__, None)
                if current is not None and current is not func:
                    kind[name] = getattr(owner, func.__name__)


def _adopt(shell, kernel, profile_dir):
    shell.parent = kernel
    shell.kernel = kernel
    # Same content as the template's (checked); the kernel's object, as a cold shell shares it.
    for configurable in [shell, *shell.configurables]:
        configurable._trait_values["config"] = kernel.config
    ipython_dir = get_ipython_dir()
    ensure_dir_exists(ipython_dir)
    # Not through the trait: its observer from the extension manager would make a directory that a
    # cold kernel does not (the manager is built after ipython_dir is set).
    shell._trait_values["ipython_dir"] = ipython_dir
    shell.profile_dir = profile_dir
    shell.starting_dir = os.getcwd()
    shell.init_environment()
    shell.save_sys_module_state()
    shell.init_sys_modules()
    shell.db = PickleShareDB(os.path.join(profile_dir.location, "db"))
    history = shell.history_manager
    try:
        history.dir_hist[:] = [Path.cwd()]
    except OSError:
        history.dir_hist[:] = []
    history.new_session()
    shell.init_encoding()
    shell.home_dir = get_home_dir()
    shell.logger = Logger(shell.home_dir, logfname="ipython_log.py", logmode="rotate")
    shell.raw_input_original = builtins.input
    shell.sys_excepthook = sys.excepthook
    _rebind_magics(shell)
    _unregister_atexit(shell)
    script = _script_magics(shell)
    if script is not None:
        atexit.register(script.kill_bg_processes)
    atexit.register(shell.atexit_operations)


def arm(argv):
    """In a forked kernel, before its app initializes: the kernel's instance() call adopts or drops."""
    _arm(lambda kwargs: _fits_app(argv, kwargs))


def arm_one_shot():
    """In a one-shot run (sci_one_shot.py), which has no app and reads no config file."""
    _arm(lambda kwargs: True)


def _arm(fits_app):
    if _shell is None:
        return
    instance = ZMQInteractiveShell.instance.__func__

    def instance_once(cls, *args, **kwargs):
        global _shell
        del ZMQInteractiveShell.instance  # back to SingletonConfigurable's
        shell, main = _shell, sys.modules.get("__main__")
        if not args and _fits(cls, kwargs) and fits_app(kwargs):
            try:
                _adopt(shell, kwargs["parent"], kwargs["profile_dir"])
                return shell
            except Exception as error:
                print(f"kernel: cannot adopt the prebuilt IPython shell: {error!r}", file=sys.stderr)
                sys.modules["__main__"] = main
        _drop()
        return instance(cls, *args, **kwargs)

    ZMQInteractiveShell.instance = classmethod(instance_once)
