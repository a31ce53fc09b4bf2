"""Signing in to the workbench: the session cookie, the form guard, roles, and the audit of a page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from registry.api.app import create_app
from registry.api.config import ApiConfig
from registry.web.session import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE
from tests.api.conftest import MakeToken
from tests.database import Database
from tests.registry.identity_helpers import borderline_pair, rows
from tests.web.conftest import form_guard, post, sign_in


def _set_cookie(answer: Any, name: str) -> str:
    (found,) = [h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return found


def test_a_steward_signs_in_with_a_token_and_the_cookie_is_secure_httponly_strict_and_holds_only_the_token(
    web: TestClient, make_token: MakeToken
) -> None:
    token = make_token("steward", name="Ms Hoa")
    guard = web.get("/sign-in")
    assert "secure" in _set_cookie(guard, CSRF_COOKIE).lower()
    answer = web.post(
        "/sign-in", data={"token": token, CSRF_FIELD: form_guard(web), "next": "/steward/queue"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/steward/queue"
    cookie = _set_cookie(answer, SESSION_COOKIE)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert cookie.split(";")[0] == f"{SESSION_COOKIE}={token}"  # the token's secret: no personal data
    page = web.get("/steward/queue")
    assert page.status_code == 200 and "Ms Hoa" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_post_without_the_form_guard_is_refused_and_changes_nothing(
    web: TestClient, make_token: MakeToken
) -> None:
    token = make_token("steward")
    form_guard(web)
    refused = web.post("/sign-in", data={"token": token, CSRF_FIELD: "forged"})
    assert refused.status_code == 403 and "Form refused" in refused.text
    assert SESSION_COOKIE not in web.cookies
    web.cookies.delete(CSRF_COOKIE)
    assert web.post("/sign-in", data={"token": token}).status_code == 403


def test_unknown_tokens_and_roles_without_pages_are_refused_with_a_reason(
    web: TestClient, make_token: MakeToken
) -> None:
    unknown = post(web, "/sign-in", token="prv_not-a-token")
    assert unknown.status_code == 401 and "unknown, revoked or expired" in unknown.text
    admin = post(web, "/sign-in", token=make_token("admin"))
    assert admin.status_code == 403 and "no pages for the admin role" in admin.text
    assert SESSION_COOKIE not in web.cookies


def test_without_a_session_a_page_sends_to_the_sign_in_page_and_back(web: TestClient) -> None:
    answer = web.get("/steward/queue?order=weight")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Fsteward%2Fqueue%3Forder%3Dweight"
    assert 'name="next" value="/steward/queue?order=weight"' in web.get(answer.headers["location"]).text


def test_next_never_leads_to_another_site(web: TestClient, make_token: MakeToken) -> None:
    answer = post(web, "/sign-in", token=make_token("steward"), next="//elsewhere.example/x")
    assert answer.headers["location"] == "/steward/queue"


def test_signing_out_ends_the_session(steward: TestClient) -> None:
    answer = post(steward, "/sign-out")
    assert answer.status_code == 303
    assert SESSION_COOKIE not in steward.cookies
    assert steward.get("/steward/queue").status_code == 303


def test_a_revoked_token_ends_its_session(web: TestClient, database: Database, make_token: MakeToken) -> None:
    sign_in(web, make_token("steward", name="leaving"))
    with database.begin() as connection:
        connection.execute("UPDATE api_token SET revoked_at = now() WHERE name = 'leaving'")
    web.app.state.principals._kept.clear()  # type: ignore[attr-defined]  # past the cache's seconds
    assert web.get("/steward/queue").status_code == 303


def test_the_queue_audits_every_patient_it_shows_with_its_purpose(
    steward: TestClient, database: Database, tmp_path: Path
) -> None:
    borderline_pair(database, tmp_path, "Nguyễn Văn An", (1985, 3, 14), "000301")
    page = steward.get("/steward/queue")
    assert page.status_code == 200 and page.text.count("Nguyễn Văn An") == 2
    audited = rows(database, "SELECT actor, role, operation, purpose, master_patient_id FROM patient_access")
    masters = {m for *_, m in audited}
    assert len(masters) == 2
    assert {a[:4] for a in audited} == {
        ("Ms Hoa", "steward", "web:reviewQueue", "identity work: review queue")
    }


def test_the_sign_in_page_says_when_it_is_reached_over_plain_http_from_another_machine(
    db_url: str, tmp_path: Path
) -> None:
    app = create_app(db_url, tmp_path / "home", ApiConfig())
    for base_url, warned in (
        ("http://registry.example", True),
        ("https://registry.example", False),
        ("http://127.0.0.1:8000", False),
    ):
        with TestClient(app, base_url=base_url) as client:
            assert ("plain HTTP" in client.get("/sign-in").text) == warned, base_url
