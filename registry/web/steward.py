"""The data stewards' pages: the review queue, a possible match side by side with its decision, an
identity with its history, merges and splits, and the search for identities.

Every patient a page shows is audited first, as the API audits (registry/access/audit.py), with
the page's purpose; every change is a steward's change of registry/identity/ (one transaction
with the audit of the identities it touched, a mandatory reason, recorded in their history).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry import reads
from registry.access.roles import Permission
from registry.identity import review_view
from registry.web.session import Page

HOME = "/steward/queue"
QUEUE_PURPOSE = "identity work: review queue"
ORDERS = {"oldest": "oldest first", "newest": "newest first", "weight": "highest weight first"}
QUEUE_LENGTH = 100


def _weight(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


async def queue(request: Request) -> Response:
    """The open review items, filtered by facility and minimum weight, in the order asked."""
    params = request.query_params
    order = params.get("order") if params.get("order") in ORDERS else "oldest"
    facility = params.get("facility") or None
    min_weight = _weight(params.get("min_weight"))
    async with Page(request, Permission.IDENTITY_WORK) as page:
        items = await page.read(
            review_view.list_reviews,
            order=order,  # type: ignore[arg-type]
            limit=QUEUE_LENGTH,
            facility=facility,
            min_weight=min_weight,
        )
        masters = {m for i in items for m in (i.record.master_patient_id, i.candidate.master_patient_id) if m}
        await page.audit(masters, "web:reviewQueue", QUEUE_PURPOSE)
        facilities = await page.read(reads.facilities)
        return page.render(
            "steward/queue.html",
            {
                "items": items,
                "facilities": facilities,
                "orders": ORDERS,
                "order": order,
                "facility": facility,
                "min_weight": params.get("min_weight", ""),
            },
        )


def routes() -> list[BaseRoute]:
    return [Route("/steward/queue", queue, methods=["GET"])]
