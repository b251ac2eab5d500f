"""What machine the figures were measured on: board, CPU model, cores, memory."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: ARM's "CPU part" numbers (/proc/cpuinfo on a Raspberry Pi has no "model name").
_ARM_PARTS = {
    "0xb76": "ARM1176", "0xc07": "Cortex-A7", "0xd03": "Cortex-A53", "0xd04": "Cortex-A35",
    "0xd05": "Cortex-A55", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76",
}


@dataclass(frozen=True)
class Machine:
    """The machine a bench ran on."""

    cpu: str
    cores: int
    arch: str
    memory_mb: int
    board: str | None
    python: str
    system: str

    def __str__(self) -> str:
        board = f"{self.board}, " if self.board else ""
        return f"{board}{self.cpu}, {self.cores} cores, {self.arch}, {self.memory_mb / 1024:.1f} GB"

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "summary": str(self)}


def this_machine() -> Machine:
    """Describe the machine this process runs on (Linux /proc where it can, else ``platform``)."""
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 1,
        arch=platform.machine(),
        memory_mb=_memory_mb(),
        board=_read(Path("/proc/device-tree/model")),
        python=platform.python_version(),
        system=platform.platform(terse=True),
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip("\0 \n") or None
    except OSError:
        return None


def _cpu_model() -> str:
    info = _read(Path("/proc/cpuinfo")) or ""
    fields: dict[str, str] = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    if fields.get("model name"):
        return fields["model name"]
    if fields.get("cpu part") in _ARM_PARTS:
        return _ARM_PARTS[fields["cpu part"]]
    return fields.get("hardware") or platform.processor() or "unknown CPU"


def _memory_mb() -> int:
    for line in (_read(Path("/proc/meminfo")) or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 0
