"""The API console: a small page for trying the GraphQL API in a browser, served by provreg itself.

GET /graphql answers with the page when the configuration turns it on (`provreg serve --console`);
its stylesheet, script and examples are files shipped in this package, served under /console/.
Nothing is loaded from another site: the console works on a network without internet, and the
page where a bearer token to health data is pasted runs only this registry's own code, which the
Content-Security-Policy enforces (no inline script, every fetch to this origin only).
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HERE = Path(__file__).parent
PAGE = _HERE / "index.html"
ASSETS = _HERE / "assets"
ASSETS_PATH = "/console"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        # The form is never submitted by the browser: the script sends the token in a header.
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class WithSecurityHeaders:
    """Adds the console's security headers to every answer of the wrapped application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def console_page() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


def console_assets() -> Mount:
    """The console's stylesheet, script and examples, served as they are in the package."""
    return Mount(ASSETS_PATH, app=WithSecurityHeaders(StaticFiles(directory=ASSETS)), name="console")
