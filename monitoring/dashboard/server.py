"""Serve a monitoring site on 127.0.0.1 (never another interface).

The pages poll ``data/manifest.json`` every few seconds and reload when its
``monitoring_digest`` changes, so a dashboard left open shows new windows as
soon as a monitoring run rewrites the site. Responses carry
``Cache-Control: no-store`` so that polling always sees the current file.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from validation.errors import InputError

HOST = "127.0.0.1"


class _Handler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        pass


def resolve_site(site_dir: str | Path) -> Path:
    """The directory holding ``index.html``: ``DIR`` itself or ``DIR/site``."""
    p = Path(site_dir)
    for cand in (p, p / "site"):
        if (cand / "index.html").is_file():
            return cand
    raise InputError(f"{p}: no index.html here (run `medval monitor ... --out {p}` first)")


def make_server(site_dir: str | Path, *, port: int = 8765) -> ThreadingHTTPServer:
    """An HTTP server for the site bound to 127.0.0.1 (``port=0`` picks a free port)."""
    root = resolve_site(site_dir)
    handler = functools.partial(_Handler, directory=str(root))
    try:
        return ThreadingHTTPServer((HOST, int(port)), handler)
    except OSError as exc:
        raise InputError(f"port {port}: cannot listen on {HOST} ({exc.strerror})") from None


def start_in_thread(site_dir: str | Path, *, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start the server on a daemon thread; returns (server, base URL). Call ``server.shutdown()`` to stop."""
    server = make_server(site_dir, port=port)
    threading.Thread(target=server.serve_forever, name="medval-dashboard", daemon=True).start()
    host, actual = server.server_address[:2]
    return server, f"http://{host}:{actual}/"


def serve(site_dir: str | Path, *, port: int = 8765) -> None:
    """Serve until interrupted."""
    server = make_server(site_dir, port=port)
    host, actual = server.server_address[:2]
    print(f"medval dashboard: http://{host}:{actual}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
