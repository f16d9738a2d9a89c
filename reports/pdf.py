"""HTML → PDF with WeasyPrint, byte-identical on rerun when SOURCE_DATE_EPOCH is set."""

from __future__ import annotations

import os
from pathlib import Path

from validation.fileio import atomic_write_bytes

# A fixed epoch (2026-01-01T00:00:00Z) unless the caller chose one: PDF metadata
# dates then never vary between renders of the same run.
DEFAULT_SOURCE_DATE_EPOCH = "1767225600"


def write_pdf(html_text: str, out_path: str | Path, *, base_url: str | Path | None = None) -> Path:
    """Render ``html_text`` to a PDF at ``out_path`` (atomically)."""
    os.environ.setdefault("SOURCE_DATE_EPOCH", DEFAULT_SOURCE_DATE_EPOCH)
    import weasyprint

    document = weasyprint.HTML(string=html_text, base_url=str(base_url) if base_url else None)
    pdf = document.write_pdf()
    return atomic_write_bytes(out_path, pdf)
