"""Memory that goes back to the system after a big image.

Decoding a 12 MP photo takes ~50 MB in one piece, an animation more. With glibc's defaults every
thread that ever decoded keeps its own arena at its peak (up to 8 per core), and after the first
large block is freed glibc raises its mmap threshold so that later blocks come from those arenas
too: a server that took seven AVIF uploads stayed at 1.6 GB. Measured on 8 threads decoding
AVIF, JPEG, HEIC and an animated WebP two at a time (peak / a moment after, MB): defaults 394 / 252;
two arenas 301 / 43; a fixed 1 MB mmap threshold 231 / 37; both 256 / 37. With the threshold fixed
every block of 1 MB or more is mapped on its own and unmapped when freed; the arenas hold only
small objects, of which two are enough for the threads that serve requests.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt() parameters from glibc's malloc.h.
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 1024 * 1024
ARENAS = 2


def give_memory_back() -> bool:
    """Fix the mmap threshold and cap the arenas, when the C library is glibc; whether it was done.

    Call it before the server starts its threads: arenas made before it are kept.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators behave otherwise
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_ARENA_MAX, ARENAS))
