"""libx264 settings that make the encoded video a function of the frames alone.

Two things made the same frames encode to different files (issue 8, "output depends on the
cache state"; the cache itself had nothing to do with it):

* **AVX-512 reads uninitialized memory.** With its AVX-512 code and the macroblock tree on
  (x264's default ``mbtree=1``), the libx264 in PyAV's wheels (core 165) reads heap memory it
  never wrote: the stream depends on what the process left in freed memory before. Run with
  glibc's ``MALLOC_PERTURB_=7`` and ``=165`` (fresh heap filled with a pattern) the same
  frames give two different files, each repeatable; without AVX-512 or with ``mbtree=0`` both
  give one file. So a run after the float model conversion (a cold cache: much allocated and
  freed before) encoded differently from a run without it, and concurrent threads changed it
  too (decoded frames differed by up to 61 levels). Measured on an AMD EPYC (Zen 4) with
  AVX-512, single-threaded: 3 to 4 encodes in 40 differed. x264's AVX2 code costs the same
  CPU time (9.3 vs 9.8 ms per 960x540 frame at ``veryfast``), so on CPUs with AVX-512 x264 is
  limited to AVX2.
* **Thread count.** x264's default thread count is 1.5 times the cores it may run on, and its
  output depends on the thread count (each count is deterministic on its own). A fixed count,
  :data:`THREADS`, gives the same file on any number of cores.

Output still depends on the CPU's instruction sets (SSE2 vs AVX2 machines encode
differently); it does not depend on timing, load or core count.
"""

from __future__ import annotations

THREADS = 4
"""x264 threads, fixed whatever the core count (see the module docstring). About as fast as
x264's own choice on 2 to 4 cores; on many cores large videos encode slower than they could."""

AVX2_FLAGS = "MMX2,SSE,SSE2,SSE2Fast,LZCNT,SSE3,SSSE3,SSE4.1,SSE4,SSE4.2,AVX,FMA3,BMI1,BMI2,AVX2"
"""x264 ``asm`` flags: every instruction set x264 uses on an AVX-512 CPU except AVX-512 (any
CPU with AVX-512 also has these)."""


def has_avx512() -> bool:
    """Whether the CPU (and OS) support the AVX-512 subsets x264 uses (F, CD, BW, DQ, VL),
    as numpy detected them at import (False if this numpy does not say)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return False
    return all(features.get(f, False) for f in ("AVX512F", "AVX512CD", "AVX512BW", "AVX512DQ", "AVX512VL"))


def x264_options(crf: int, preset: str) -> dict[str, str]:
    """libavcodec options for libx264 with quality ``crf`` and ``preset``: a fixed thread count
    and, on CPUs with AVX-512, x264 limited to AVX2, so equal frames give an equal file."""
    options = {"crf": str(crf), "preset": preset, "threads": str(THREADS)}
    if has_avx512():
        options["x264-params"] = f"asm={AVX2_FLAGS}"
    return options
