# Starts a Python kernel: ipykernel with the sandbox's patches and caps (sci_kernel.py). The kernel
# app starts through sci_fast_init.launch, which skips work that changes nothing a user sees; a
# kernel forked from the kernel template takes the IPython shell that the template built
# (sci_prebuilt_shell.py) and finds sci_kernel already imported.
import sys

from sci_without_debugpy import without_debugpy

with without_debugpy():
    from ipykernel.kernelapp import IPKernelApp

import sci_fast_init
import sci_kernel
import sci_prebuilt_shell

if __name__ == "__main__":
    sci_kernel.configure()
    sci_prebuilt_shell.arm(sys.argv[1:])
    sci_fast_init.launch(IPKernelApp, sci_prebuilt_shell.kernel_config(), sys.argv[1:])
