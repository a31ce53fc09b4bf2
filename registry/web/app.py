"""The workbench's routes: signing in and out, its static files, and each group's pages (stewards'
in `steward.py`, doctors' in `doctor.py`), mounted by the registry's application (registry/api/app.py).

Every answer carries a Content-Security-Policy allowing this registry's own files only (no inline
script, no other site): the pages work on a network without internet.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.access.principals import principal_of
from registry.access.roles import Permission
from registry.access.tokens import Principal
from registry.db.connections import Reads
from registry.web import doctor, steward
from registry.web.session import (
    SESSION_COOKIE,
    FormRefused,
    NotAllowed,
    SignInRequired,
    end_session,
    guarded_form,
    render,
    sign_in_redirect,
    start_session,
)

STATIC = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "font-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
# Where each role starts once signed in.
HOME = {Permission.IDENTITY_WORK: steward.HOME, Permission.READ_PATIENT: doctor.HOME}


class WorkbenchPages:
    """The workbench's routes, with its security headers and its answers to a missing session, a
    role that may not, and a form not posted by one of its pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except SignInRequired:
            await sign_in_redirect(Request(scope))(scope, receive, send_with_headers)
        except NotAllowed as refused:
            await _message(Request(scope), "Not allowed", str(refused), 403)(
                scope, receive, send_with_headers
            )
        except FormRefused:
            message = "This form was not sent by a page of this workbench, or it has expired: go back and try again."
            await _message(Request(scope), "Form refused", message, 403)(scope, receive, send_with_headers)


def _message(request: Request, title: str, text: str, status_code: int) -> HTMLResponse:
    return render(request, "message.html", {"title": title, "text": text}, status_code)


def _home_of(principal: Principal | None) -> str | None:
    """Where this user starts, or None for a role without pages."""
    return next((home for permission, home in HOME.items() if principal and principal.can(permission)), None)


async def _principal(request: Request, secret: str | None) -> Principal | None:
    if not secret:
        return None
    db = Reads(request.app.state.reads)
    try:
        return await principal_of(request.app.state.principals, db, secret)
    finally:
        await db.close()


def _safe_next(value: str | None) -> str | None:
    """A path on this site only: never another site (`//host`, `/\\host`), never a scheme."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return None


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _insecure(request: Request) -> bool:
    """Served over plain HTTP to another machine: browsers keep no `Secure` cookie then (they do on
    this machine's own addresses), so signing in cannot work; the page says so."""
    return request.url.scheme != "https" and request.url.hostname not in LOOPBACK


async def sign_in_page(request: Request) -> Response:
    wanted = _safe_next(request.query_params.get("next"))
    return render(request, "sign_in.html", {"next": wanted, "error": None, "insecure": _insecure(request)})


async def sign_in(request: Request) -> Response:
    form = await guarded_form(request)
    secret = str(form.get("token", "")).strip()
    wanted = _safe_next(str(form.get("next", "")))
    principal = await _principal(request, secret)
    home = _home_of(principal)
    if principal is None or home is None:
        error = (
            "This token is unknown, revoked or expired."
            if principal is None
            else f"The workbench has no pages for the {principal.role.value} role."
        )
        context = {"next": wanted, "error": error, "insecure": _insecure(request)}
        return render(request, "sign_in.html", context, 401 if principal is None else 403)
    response = RedirectResponse(wanted or home, status_code=303)
    start_session(response, secret)
    return response


async def sign_out(request: Request) -> Response:
    await guarded_form(request)
    response = RedirectResponse("/sign-in", status_code=303)
    end_session(response)
    return response


async def home(request: Request) -> Response:
    """The signed-in user's first page, else the sign-in page."""
    home = _home_of(await _principal(request, request.cookies.get(SESSION_COOKIE)))
    return RedirectResponse(home or "/sign-in", status_code=303)


def workbench_routes() -> list[BaseRoute]:
    """The workbench's routes, for the registry's application to mount."""
    routes: list[BaseRoute] = [
        Route("/", home, methods=["GET"]),
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        *steward.routes(),
        *doctor.routes(),
    ]
    return [Mount("", app=WorkbenchPages(Router(routes=routes)))]
