"""What a run records about where it ran: platform, Python, package versions, code version."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# The packages whose versions can change a number in results.json or a report.
RECORDED_PACKAGES = (
    "medval", "numpy", "scipy", "pandas", "pyarrow", "onnxruntime", "onnx", "pydicom",
    "nibabel", "pillow", "pydantic", "pyyaml", "jinja2", "great-expectations", "evidently",
    "matplotlib", "weasyprint",
)


def package_versions(names=RECORDED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def code_version() -> str:
    """The git commit of the medval checkout (with '+dirty' if modified), else 'unknown'."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": package_versions(),
        "code_version": code_version(),
    }
