"""The self-hosted GraphiQL IDE: the page a browser gets on GET /graphql, and its files.

Strawberry's own page loads React and GraphiQL from a CDN and runs an inline script; ours loads
only files the gateway serves (`gateway/static/graphiql/`, fetched from the npm registry by
`scripts/vendor_graphiql.py`), so it works without internet access and under a strict
Content-Security-Policy. The files live under a path holding a hash of their content, so they
are cached for a year and a new deployment is fetched at once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from strawberry.http.base import BaseRequestProtocol

STATIC = Path(__file__).resolve().parent / "static" / "graphiql"
ASSET_PATH = "/graphiql/{version}/{path:path}"
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
TEXT = "text/plain; charset=utf-8"  # the licences (LICENSE, LICENSE.md)


@dataclass(frozen=True)
class Asset:
    content: bytes
    media_type: str

    @cached_property
    def gzipped(self) -> bytes:
        return gzip.compress(self.content, compresslevel=9, mtime=0)


def _load_assets(folder: Path) -> dict[str, Asset]:
    return {
        path.relative_to(folder).as_posix(): Asset(
            path.read_bytes(), MEDIA_TYPES.get(path.suffix, TEXT)
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _version(assets: Mapping[str, Asset]) -> str:
    digest = hashlib.sha256()
    for name, asset in assets.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(asset.content).digest())
    return digest.hexdigest()[:12]


ASSETS = _load_assets(STATIC)
VERSION = _version(ASSETS)


def _vendored_files(suffix: str) -> list[str]:
    """The vendored packages' files of one kind, in the order vendor.json lists them (the
    order in which the scripts must load: React before ReactDOM before GraphiQL)."""
    manifest = json.loads(ASSETS["vendor.json"].content)
    return [
        f"vendor/{package['name']}@{package['version']}/{file}"
        for package in manifest["packages"]
        for file in package["files"]
        if file.endswith(suffix)
    ]


def _page_template() -> str:
    # Asset URLs are relative to the page: the IDE is served at the endpoint's own URL
    # (/graphql), so `graphiql/…` resolves to /graphiql/… there, and under any path prefix a
    # proxy adds. ide.js sends queries to the page's own URL for the same reason.
    base = f"graphiql/{VERSION}/"
    styles = "\n".join(
        f'<link rel="stylesheet" href="{base}{name}">'
        for name in [*_vendored_files(".css"), "ide.css"]
    )
    scripts = "\n".join(f'<script src="{base}{name}"></script>' for name in _vendored_files(".js"))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>GraphiQL · B2B marketplace gateway</title>
<link rel="icon" href="{base}favicon.svg" type="image/svg+xml">
{styles}
</head>
<body>
<div id="graphiql"><p class="ide-loading">Loading GraphiQL…</p></div>
<noscript><p class="ide-loading">GraphiQL needs JavaScript.</p></noscript>
{scripts}
<script src="{base}ide.js" nonce="{{nonce}}"></script>
</body>
</html>
"""


PAGE = _page_template()

# A Host header fit to name in the CSP (anything else could smuggle in a directive).
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def content_security_policy(nonce: str, host: str | None) -> str:
    """Scripts only from the gateway, no inline script, no eval. Inline <style> elements only
    with the page's nonce: GraphiQL's dialogs add one (react-remove-scroll), tagged with the
    nonce that ide.js hands over. Fonts and icons are data: URLs inside graphiql.min.css.
    Subscriptions go over ws(s) to this host ('self' covers that in CSP 3 browsers only)."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.match(host) else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            f"connect-src 'self'{sockets}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def wants_ide(request: BaseRequestProtocol, *, enabled: bool) -> bool:
    """A browser's page load: GET asking for HTML. Unlike Strawberry's rule, a `query`
    parameter does not turn it into an execution: GraphiQL opens with that query filled in
    (a shareable link) and runs it only when asked. A GET accepting anything (`*/*`, curl)
    gets the page only without a query, as before. With the IDE off, Strawberry's rule picks
    the requests that are answered 404."""
    if request.method != "GET":
        return False
    accept = request.headers.get("accept", "")
    has_query = request.query_params.get("query") is not None
    if enabled and "text/html" in accept:
        return True
    return not has_query and ("text/html" in accept or "*/*" in accept)


def page(request: Request) -> Response:
    nonce = secrets.token_urlsafe(18)
    return Response(
        PAGE.replace("{nonce}", nonce),
        media_type="text/html; charset=utf-8",
        headers={
            "content-security-policy": content_security_policy(nonce, request.headers.get("host")),
            # The nonce is per answer: a cached copy would carry a stale one.
            "cache-control": "no-store",
        },
    )


async def asset(request: Request) -> Response:
    found = ASSETS.get(request.path_params["path"])
    if found is None or request.path_params["version"] != VERSION:
        return PlainTextResponse("Not Found", status_code=404)
    headers = {"cache-control": IMMUTABLE, "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(found.gzipped, media_type=found.media_type, headers=headers)
    return Response(found.content, media_type=found.media_type, headers=headers)


def asset_routes(enabled: bool) -> list[Route]:
    """The IDE's files, at /graphiql/<content hash>/… (none when the IDE is off)."""
    return [Route(ASSET_PATH, asset, methods=["GET"])] if enabled else []
