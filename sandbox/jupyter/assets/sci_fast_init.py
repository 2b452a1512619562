# Cuts the CPU of IPKernelApp.initialize, mostly for kernels forked from the kernel template, which
# warms these caches once (warm()) so that every child inherits them. Measured in a forked child
# (cProfile on CPU time, ipykernel 6.17, IPython 8.5, traitlets 5.5): traitlets walks dir(cls) of
# each class for every instance it sets up and every trait query (about a quarter of the child's
# CPU), and ScriptMagics builds the same argparse parser, help text included, for each of its
# eight %%bash-style magics in every shell (about an eighth). The first cell of each kernel also
# compiled a regex of the tokenizer, and reading the connection file listed the machine's network
# addresses. launch() starts the kernel app with these, and gives it "-f" as config rather than
# through traitlets' command-line parser. Nothing a user sees changes:
# - The class caches are on only while a kernel builds its app, kernel and shell (the launcher
#   calls stop() before extensions, startup files or any request run), so a class that user code
#   changes is never seen stale. Within that window no class gains or loses a trait: traitlets'
#   add_traits makes a new class. getmembers() then returns only descriptors: all that traitlets,
#   its one caller, keeps of it.
# - The %%bash, %%sh, … magics hand their line to %%script's own parser; theirs is only kept as an
#   attribute and its help text is replaced by their docstring, so one shared parser serves all.
import types

import traitlets.traitlets as tt
from traitlets.config.configurable import Configurable
from IPython.core import magic_arguments
from IPython.core.inputtransformer2 import TransformerManager
from IPython.core.magics.script import ScriptMagics

_getmembers = tt.getmembers
_setup_instance = tt.HasDescriptors.setup_instance
_construct_parser = magic_arguments.construct_parser
_traits_uncached = tt.HasTraits.traits
_class_traits_uncached = tt.HasTraits.class_traits.__func__
_section_names = Configurable.section_names.__func__
_descriptors = {}
_traits = {}
_sections = {}
_script_parser = []
_on = False


def _class_descriptors(cls):
    found = _descriptors.get(cls)
    if found is None:
        found = _descriptors[cls] = [
            (key, value) for key, value in _getmembers(cls) if isinstance(value, tt.BaseDescriptor)
        ]
    return found


def _getmembers_cached(object, predicate=None):
    if _on and predicate is None and isinstance(object, type) and issubclass(object, tt.HasDescriptors):
        return list(_class_descriptors(object))
    return _getmembers(object, predicate)


def _setup_instance_cached(*args, **kwargs):
    if not _on:
        return _setup_instance(*args, **kwargs)
    self = args[0]
    self._cross_validation_lock = False
    for _, value in _class_descriptors(self.__class__):
        value.instance_init(self)


def _class_traits(cls, metadata):
    key = (cls, tuple(sorted(metadata.items())))
    try:
        found = _traits.get(key)
    except TypeError:  # an unhashable filter
        return _class_traits_uncached(cls, **metadata)
    if found is None:
        found = _traits[key] = _class_traits_uncached(cls, **metadata)
    return found


def _traits_cached(self, **metadata):
    if not _on:
        return _traits_uncached(self, **metadata)
    return dict(_class_traits(self.__class__, metadata))


def _class_traits_cached(cls, **metadata):
    if not _on:
        return _class_traits_uncached(cls, **metadata)
    return dict(_class_traits(cls, metadata))


def _section_names_cached(cls):
    if not _on:
        return _section_names(cls)
    found = _sections.get(cls)
    if found is None:
        found = _sections[cls] = _section_names(cls)
    return list(found)


def _script_magic_code():
    for const in ScriptMagics._make_script_magic.__code__.co_consts:
        if getattr(const, "co_name", None) == "named_script_magic":
            return const
    return None


_SCRIPT_MAGIC_CODE = _script_magic_code()


def _construct_parser_shared(magic_func):
    if magic_func.__code__ is not _SCRIPT_MAGIC_CODE or getattr(magic_func, "argcmd_kwds", None):
        return _construct_parser(magic_func)
    if not _script_parser:
        parser = _construct_parser(magic_func)
        _script_parser.append((parser, magic_func.__doc__))
    parser, doc = _script_parser[0]
    magic_func.__doc__ = doc
    return parser


def start():
    """Turns the class caches on, for one kernel's initialization."""
    global _on
    _on = True


def stop():
    """Turns the class caches off: from here on user code may change classes, and none is read."""
    global _on
    # Not emptied: filled in the template, they are shared copy-on-write, and freeing their entries
    # copied every page they were on (about 3 ms of a forked kernel's start).
    _on = False


def launch(app_class, config, argv):
    """IPKernelApp.launch_instance(argv, config), initialized with the class caches on."""
    # To read "-f file" traitlets builds an argparse parser over every alias, flag and configurable
    # class, a sixth of a forked kernel's CPU: the same setting goes in as config instead.
    connection_file_only = len(argv) == 2 and argv[0] == "-f"
    if connection_file_only:
        config[app_class.__name__]["connection_file"] = argv[1]
    start()
    app = app_class.instance(config=config)
    if connection_file_only:
        app.parse_command_line = lambda argv=None: None
    init_extensions = app.init_extensions

    def init_extensions_uncached():
        # Extensions, exec_lines and startup files come next: user code, which may change classes.
        stop()
        init_extensions()

    app.init_extensions = init_extensions_uncached
    app.initialize([] if connection_file_only else argv)
    stop()
    app.start()


def warm():
    """In the template: fills the caches for every traitlets class imported so far."""
    start()
    pending = [tt.HasDescriptors]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        try:
            _class_descriptors(cls)
            if issubclass(cls, Configurable):
                _class_traits(cls, {"config": True})
                _section_names_cached(cls)
        except Exception:  # a class whose attributes raise on access: left to traitlets
            pass
    ScriptMagics._make_script_magic(types.SimpleNamespace(script_paths={}), "sh")
    # Every kernel's first cell compiled tokenize's pseudo-token regex (a few thousand characters,
    # about 10 ms of CPU) into functools' cache: compiled here, it is inherited.
    TransformerManager().transform_cell("x = 1\n")
    # Reading its connection file, each kernel listed this machine's addresses by running `ip addr`
    # (a fork and exec of a process of hundreds of MB); jupyter_client keeps the list once made.
    from jupyter_client import localinterfaces

    localinterfaces.localhost()


tt.getmembers = _getmembers_cached
tt.HasDescriptors.setup_instance = _setup_instance_cached
magic_arguments.construct_parser = _construct_parser_shared
tt.HasTraits.traits = _traits_cached
tt.HasTraits.class_traits = classmethod(_class_traits_cached)
Configurable.section_names = classmethod(_section_names_cached)
