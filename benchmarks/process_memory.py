"""A benchmark probe's own peak resident memory.

Not `resource.getrusage(...).ru_maxrss`: a process started by `subprocess` inherits the high-water mark of the
parent it was forked from (Linux keeps the larger of the two across exec), so a probe started by a benchmark that
holds a large job reports the benchmark's peak, not its own. `/proc/self/status`'s VmHWM is the probe's own.
"""

from __future__ import annotations

from pathlib import Path


def own_peak_rss() -> int:
    """This process's peak resident set size (VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line: peak memory cannot be read on this system")
