"""Who is signed in to the workbench, and the guard on its forms.

Signing in posts an API token (a steward's, a clinician's) once; the session cookie then holds that
token's secret, and every request is authenticated from it as the API authenticates a bearer token
(registry/access/principals.py: a revoked or expired token ends the session). The cookie is `Secure`,
`HttpOnly` and `SameSite=Strict`, with the `__Host-` prefix (this host only, path /), and holds no
personal data: a token names a role, never a patient.

Forms are guarded against cross-site posts by a second cookie of its own (a random value, the
`__Host-` prefix, SameSite=Strict) that every form repeats in a hidden field (double submit): a
post whose field does not match is refused. It is set before signing in, so the sign-in form is
guarded too.

`Page` is a request of a signed-in user: the principal, the request's connections (one in
autocommit for reads, one for a change, as the GraphQL endpoint has), the audit of every patient a
page shows (registry/access/audit.py, written before the page is sent, with the page's purpose),
and the page's rendering.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import quote

import jinja2
import psycopg
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from registry.access.audit import C, audited_change, record_access
from registry.access.principals import principal_of
from registry.access.roles import Permission
from registry.access.tokens import Principal
from registry.db.connections import Reads, Transaction
from registry.db.sql import Read

P = ParamSpec("P")
T = TypeVar("T")

SESSION_COOKIE = "__Host-provreg-session"
CSRF_COOKIE = "__Host-provreg-form"
CSRF_FIELD = "form_guard"
SESSION_SECONDS = 8 * 3600  # a working day; the token's own expiry ends it sooner
# Every template escapes what it shows (names, reasons: text from facilities and stewards).
TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
)


class SignInRequired(Exception):
    """No session, or one whose token is no longer live: the user is sent to the sign-in page."""


class NotAllowed(Exception):
    """Signed in, but the role may not do this (a clinician on a steward's page)."""


class FormRefused(Exception):
    """A post without the form guard of this browser's session: not sent by one of our pages."""


def _cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict")


def start_session(response: Response, secret: str) -> None:
    _cookie(response, SESSION_COOKIE, secret, SESSION_SECONDS)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")


def form_guard(request: Request) -> str:
    """This browser's form guard: the cookie's, or a new one (`render` sets it)."""
    found = request.cookies.get(CSRF_COOKIE)
    if found is None:
        found = request.state.new_form_guard = getattr(request.state, "new_form_guard", None) or (
            secrets.token_urlsafe(32)
        )
    return found


async def guarded_form(request: Request) -> FormData:
    """The posted form, refused unless it repeats this browser's form guard."""
    form = await request.form()
    sent, kept = form.get(CSRF_FIELD), request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or kept is None or not hmac.compare_digest(sent, kept):
        raise FormRefused
    return form


def render(
    request: Request, template: str, context: Mapping[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page from its template, with the form guard its forms repeat (set as a cookie if new)."""
    guard = form_guard(request)
    response = TEMPLATES.TemplateResponse(
        request, template, {"principal": None, **context, "form_guard": guard, "form_guard_field": CSRF_FIELD},
        status_code=status_code,
    )  # fmt: skip
    if request.cookies.get(CSRF_COOKIE) != guard:
        _cookie(response, CSRF_COOKIE, guard, None)
    return response


def sign_in_redirect(request: Request) -> RedirectResponse:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(path, safe='')}", status_code=303)


class Page:
    """A request of a signed-in user who may do `permission` (see the module's docstring)."""

    def __init__(self, request: Request, permission: Permission) -> None:
        self.request = request
        self.permission = permission
        state = request.app.state
        self.db = Reads(state.reads)
        self._change = Transaction(state.transactions)
        self.principal: Principal | None = None

    async def __aenter__(self) -> Page:
        secret = self.request.cookies.get(SESSION_COOKIE)
        principal = await principal_of(self.request.app.state.principals, self.db, secret) if secret else None
        if principal is None:
            await self.close()
            raise SignInRequired
        if not principal.can(self.permission):
            await self.close()
            raise NotAllowed(f"the {principal.role.value} role may not {self.permission.value}")
        self.principal = principal
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Return the connections; a change not committed is rolled back."""
        await self.db.close()
        await self._change.close()

    @property
    def who(self) -> Principal:
        if self.principal is None:
            raise RuntimeError("the page is not entered")
        return self.principal

    @property
    def actor(self) -> str:
        """How a steward's change names who made it (as the GraphQL API does)."""
        return f"steward:{self.who.name}"

    @property
    def request_id(self) -> str:
        return str(self.request.state.request_id)

    async def read(self, read: Read[T]) -> T:
        """A read that shows no patient, or whose patients the page audits with `audit`."""
        return await self.db.read(read)

    async def audit(self, master_ids: Iterable[int], operation: str, purpose: str) -> set[int]:
        """Record the read of these master patients before the page shows them (committed as made);
        returns those that exist and are active: only they may be shown."""
        return await self.db.read(record_access(self.who, master_ids, operation, purpose, self.request_id))

    async def change(
        self,
        operation: str,
        purpose: str,
        change: Callable[Concatenate[psycopg.Connection[Any], P], C],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> tuple[C, set[int]]:
        """A steward's change and the audit of the identities it touched, in one transaction,
        committed here: the change done, and the identities audited."""
        done = await self._change.change(
            audited_change, self.who, operation, purpose, self.request_id, change, *args, **kwargs
        )
        await self._change.commit()
        return done

    def render(self, template: str, context: Mapping[str, Any], status_code: int = 200) -> HTMLResponse:
        return render(self.request, template, {**context, "principal": self.who}, status_code)
