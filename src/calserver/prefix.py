"""Where calserver is reached: the deployment prefix behind a proxy and the origin of
absolute links (DESIGN.md: every link a side endpoint prints honours the prefix)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from calserver.errors import InvalidInput


def base_prefix(environ: dict[str, Any]) -> str:
    """The prefix of every URL calserver prints: ``X-Script-Name`` from a proxy, else
    ``SCRIPT_NAME`` (as Radicale takes it)."""
    prefix = str(environ.get("HTTP_X_SCRIPT_NAME", environ.get("SCRIPT_NAME", "")))
    if prefix and not prefix.startswith("/"):
        raise InvalidInput("X-Script-Name must start with '/'")
    return prefix.rstrip("/")


def base_url(configuration: Any) -> str:
    """The server's own URL, for links made outside a request: ``[server] public_url``
    when set, else the first address it listens on."""
    public = configuration.get("server", "public_url")
    if public:
        return str(public).rstrip("/")
    host, port = configuration.get("server", "hosts")[0]
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if configuration.get("server", "ssl") else "http"
    return f"{scheme}://{host}:{port}"


def origin(environ: dict[str, Any], configuration: Any) -> str:
    """Scheme and host of absolute links (RSS, URLs to paste into another application):
    those of ``[server] public_url`` when set, else the request's own (the Host header
    a proxy passes on)."""
    public = configuration.get("server", "public_url")
    if public:
        parts = urlsplit(public)
        return f"{parts.scheme}://{parts.netloc}"
    host = environ.get("HTTP_HOST") or "{}:{}".format(
        environ.get("SERVER_NAME", "localhost"), environ.get("SERVER_PORT", "80")
    )
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
