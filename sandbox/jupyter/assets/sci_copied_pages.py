# The kernel template's pages that a kernel's start or a one-shot run copies, learned once and
# copied by each kernel and run right after its fork (so a spare's, before its request). A forked
# child shares the template's memory until it writes to it, and a kernel's start writes (if only
# reference counts) to some 1,500 of the template's pages after a spare's request, a run of print(1)
# to some 1,800: each first write is a page fault and a copy. On these VMs a fault costs 10-20 µs,
# and much more when both cores fault at once (a run's system time doubled at two runs at a time);
# one madvise over the same pages costs a fraction of it (a run's system time 100-115 → 38-45 ms at
# two at a time).
# The template rehearses each once (kernel_template.py): a throwaway child starts a kernel for a
# made-up request into its event loop, or runs a fixed cell as a run, and reports the pages it
# copied: those that it shared before (/proc/self/pagemap: present, not exclusively its own) and
# owns alone after. Copying them ahead (MADV_POPULATE_WRITE: the fault without the write) leaves a
# kernel or run holding the same pages as without this, copied in one go.
import array
import ctypes
import os

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PRESENT = 1 << 63
EXCLUSIVE = 1 << 56
MADV_POPULATE_WRITE = 23  # Linux 5.14; older kernels refuse it (EINVAL) and nothing is copied

libc = ctypes.CDLL(None, use_errno=True)
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def _spans():
    """(start, end) of each of this process's writable private mappings."""
    with open("/proc/self/maps") as maps:
        mappings = [line.split(maxsplit=2)[:2] for line in maps]
    for span, perms in mappings:
        if perms[1] == "w" and perms[3] == "p":
            yield tuple(int(bound, 16) for bound in span.split("-"))


def _entries(pagemap, start, end):
    entries = array.array("Q")
    pagemap.seek(start // PAGE_SIZE * entries.itemsize)
    entries.frombytes(pagemap.read((end - start) // PAGE_SIZE * entries.itemsize))
    return entries


def snapshot():
    """This process's writable private mappings and the pagemap entry of each of their pages (in
    arrays, so that taking it allocates next to nothing in the pages it describes)."""
    with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
        return [(start, end, _entries(pagemap, start, end)) for start, end in _spans()]


def copied_since(before):
    """The pages this process shared with another (a forked child's parent) at `before` and owns
    alone now, as [start, length] ranges."""
    ranges = []
    with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
        for start, end, then in before:
            now = _entries(pagemap, start, end)
            for index, entry in enumerate(now):
                shared_then = then[index] & PRESENT and not then[index] & EXCLUSIVE
                if not (shared_then and entry & PRESENT and entry & EXCLUSIVE):
                    continue
                address = start + index * PAGE_SIZE
                if ranges and ranges[-1][0] + ranges[-1][1] == address:
                    ranges[-1][1] += PAGE_SIZE
                else:
                    ranges.append([address, PAGE_SIZE])
    return ranges


def copy_now(ranges):
    """Copies these pages into this process now, as its first write to each would."""
    for start, length in ranges:
        # A range no longer mapped (ENOMEM) or refused is left to be copied when written.
        libc.madvise(start, length, MADV_POPULATE_WRITE)
