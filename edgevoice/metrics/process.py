"""The daemon process's own footprint: resident memory and CPU time (Linux /proc, else getrusage)."""

from __future__ import annotations

import os
import resource

from edgevoice.metrics.exposition import Family


def resident_bytes() -> int:
    """The process's resident set size now (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def process_families() -> list[Family]:
    """RSS and CPU seconds, named edgevoice_process_* so as not to clash with node_exporter's own process_*."""
    times = os.times()
    return [
        Family("edgevoice_process_resident_memory_bytes", "gauge", "Resident memory of the edgevoice daemon").add(resident_bytes()),
        Family("edgevoice_process_cpu_seconds_total", "counter", "CPU time (user and system) of the edgevoice daemon")
        .add(times.user + times.system),
    ]
