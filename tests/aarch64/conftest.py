"""The aarch64 tests run under tests/aarch64/run.sh only: that script builds
the extension for aarch64 and runs them in emulation. Elsewhere (the x86
suite's `pytest tests`) they are not collected."""
import platform

if platform.machine() not in ("aarch64", "arm64"):
    collect_ignore_glob = ["test_*.py"]
