"""What a run ran on: CPU model, torch, ISA, date, commit or version."""
import datetime
import os
import platform
import subprocess
from typing import Optional

import torch

from .. import __version__, ops


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model", "Processor") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def git_commit() -> Optional[str]:
    """The checkout's short commit ("+dirty" with uncommitted changes to
    tracked files), or None outside a git checkout."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.exists(os.path.join(here, ".git")):
        return None
    try:
        commit = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def machine_info() -> dict:
    commit = git_commit()
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "isa": ops.cpu_isa(),
        "gemm_tile": list(ops.cpu_gemm_tile()) if isinstance(ops.cpu_gemm_tile(), (tuple, list))
        else str(ops.cpu_gemm_tile()),
        "version": __version__,
        "commit": commit,
        "timestamp": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def describe(info: dict) -> str:
    """One line for the chart's title and the report's header."""
    source = f"commit {info['commit']}" if info.get("commit") else f"sqbert-kernels {info['version']}"
    return (f"{info['cpu']} ({info['cpus']} CPUs, {info['machine']}), torch {info['torch']}, "
            f"ISA {info['isa']}, {info['timestamp'][:10]}, {source}")
