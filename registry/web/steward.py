"""The data stewards' pages: the review queue, a possible match side by side with its decision, an
identity with its history, merges and splits, and the search for identities.

Every patient a page shows is audited first, as the API audits (registry/access/audit.py), with
the page's purpose; every change is a steward's change of registry/identity/ (one transaction
with the audit of the identities it touched, a mandatory reason, recorded in their history).
A refused change changes nothing and says why, in the identity layer's own words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from registry import reads
from registry.access.roles import Permission
from registry.identity import review_view
from registry.identity.errors import StewardshipError
from registry.identity.golden_record import golden_record
from registry.identity.history import identity_history
from registry.identity.master_ids import answer_for
from registry.identity.merges import merge_identities, undo_merge
from registry.identity.search import PatientQuery, candidate_sources, rank_candidates
from registry.identity.stewardship import decide_review, relink, undo_review_decision
from registry.web.session import Page, guarded_form

HOME = "/steward/queue"
ORDERS = {
    "priority": "likely the same, recent visits first",
    "oldest": "oldest first",
    "newest": "newest first",
    "weight": "highest weight first",
}
QUEUE_LENGTH = 100
SEARCH_LENGTH = 20
SEXES = {1: "male", 2: "female", 3: "undetermined"}
HISTORY_KINDS = {
    "formed": "formed", "linked": "records joined", "left": "records left", "relink": "relinked",
    "split": "split", "review_decision": "review decision", "review_undo": "review decision undone",
    "merge": "merge", "merge_undo": "merge undone",
}  # fmt: skip
# A compared field of the two records, and the comparisons of the explanation that weigh it.
COMPARED = (
    ("Name", "full_name", ("family_name", "middle_name", "given_name")),
    ("Birth date", "birth_date", ("birth_date",)),
    ("Sex", "sex", ("sex",)),
    ("Citizen ID", "citizen_id", ("citizen_id",)),
    ("Social insurance", "social_insurance_number", ("social_insurance",)),
    ("Phone", "phone", ("phone",)),
    ("Address", "address", ("address",)),
)


# Reading the request ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueView:
    """The queue as the steward filtered and ordered it, carried from page to page."""

    order: str = "priority"
    facility: str | None = None
    min_weight: float | None = None

    @classmethod
    def of(cls, params: Mapping[str, str]) -> QueueView:
        order = params.get("order", "priority")
        try:
            min_weight = float(params["min_weight"]) if params.get("min_weight") else None
        except ValueError:
            min_weight = None
        return cls(order if order in ORDERS else "priority", params.get("facility") or None, min_weight)

    @property
    def query(self) -> str:
        values = {"order": self.order, "facility": self.facility, "min_weight": self.min_weight}
        return urlencode({k: v for k, v in values.items() if v is not None})

    def items(self, page: Page) -> Any:
        return page.read(
            review_view.list_reviews(
                order=self.order,  # type: ignore[arg-type]
                limit=QUEUE_LENGTH,
                facility=self.facility,
                min_weight=self.min_weight,
            )
        )


def _id(request: Request, name: str) -> int:
    try:
        return int(request.path_params[name])
    except ValueError:
        return 0  # no such row: the page says it was not found


def _refused(page: Page, title: str, error: StewardshipError, back: str) -> Response:
    return page.render("message.html", {"title": title, "text": str(error), "back": back}, 409)


def _not_found(page: Page, what: str) -> Response:
    return page.render("message.html", {"title": "Not found", "text": f"No such {what}.", "back": HOME}, 404)


# The queue and a review item --------------------------------------------------------------------


async def queue(request: Request) -> Response:
    """The open review items, filtered by facility and minimum weight, in the order asked."""
    view = QueueView.of(request.query_params)
    async with Page(request, Permission.IDENTITY_WORK) as page:
        items = await view.items(page)
        masters = {m for i in items for m in (i.record.master_patient_id, i.candidate.master_patient_id) if m}
        await page.audit(masters, "web:reviewQueue", "identity work: review queue")
        facilities = await page.read(reads.FACILITIES)
        return page.render(
            "steward/queue.html",
            {
                "items": items,
                "in_words": review_view.reason_in_words,
                "facilities": facilities,
                "orders": ORDERS,
                "view": view,
            },
        )


@dataclass(frozen=True)
class ComparedField:
    label: str
    left: Any
    right: Any
    levels: str  # the comparison's level(s), as the explanation names them
    weight: float | None  # the evidence it added, in bits; None: not compared

    @property
    def agreement(self) -> str:
        if self.weight is None or abs(self.weight) < 0.05:
            return "neutral"
        return "agree" if self.weight > 0 else "differ"


def _level(step: Mapping[str, Any], with_weight: bool) -> str:
    """A comparison's level as the explanation names it (with its own weight, when one of several)."""
    text = f"{str(step.get('field', '')).replace('_', ' ')}: {step.get('level', '')}"
    return f"{text} {float(step.get('weight', 0.0)):+.1f}" if with_weight else text


def compared_fields(item: review_view.ReviewItemView) -> list[ComparedField]:
    """Each field of the two records with the weight the stored explanation gave it."""
    steps = {step.get("field"): step for step in item.steps}
    fields = []
    for label, attribute, comparisons in COMPARED:
        weighed = [steps[c] for c in comparisons if c in steps]
        left, right = getattr(item.record, attribute), getattr(item.candidate, attribute)
        if left is None and right is None and not weighed:
            continue
        fields.append(
            ComparedField(
                label,
                left,
                right,
                ", ".join(_level(step, len(weighed) > 1) for step in weighed),
                sum(float(s.get("weight", 0.0)) for s in weighed) if weighed else None,
            )
        )
    return fields


def _next_item(items: Sequence[review_view.ReviewItemView], current: int) -> int | None:
    """The item after `current` in the queue's order (the first when it is not there)."""
    ids = [i.id for i in items]
    later = ids[ids.index(current) + 1 :] if current in ids else ids
    return next((i for i in later if i != current), None)


async def review_item(request: Request) -> Response:
    """A possible match: both records side by side, the evidence, the household, the decision."""
    view = QueueView.of(request.query_params)
    review_id = _id(request, "review_id")
    async with Page(request, Permission.IDENTITY_WORK) as page:
        item = await page.read(review_view.show_review(review_id))
        if item is None:
            return _not_found(page, "review item")
        household = await page.read(review_view.household(item))
        shown = {item.record.master_patient_id, item.candidate.master_patient_id}
        shown |= {member.record.master_patient_id for member in household}
        audited = await page.audit(
            {m for m in shown if m}, "web:reviewItem", f"identity work: review item {review_id}"
        )
        following = _next_item(await view.items(page), review_id)
        done_id = request.query_params.get("done")
        return page.render(
            "steward/review.html",
            {
                "item": item,
                "in_words": review_view.reason_in_words,
                "fields": compared_fields(item),
                "prior": next(
                    (float(s.get("weight", 0.0)) for s in item.steps if s.get("field") == "prior"), None
                ),
                "household": [m for m in household if m.record.master_patient_id in audited],
                "view": view,
                "next_id": following,
                "done": await page.read(review_view.show_review(int(done_id)))
                if done_id and done_id.isdigit()
                else None,
            },
        )


async def decide(request: Request) -> Response:
    """Same person / Different people: the decision, then the next item (with Undo at hand)."""
    view = QueueView.of(request.query_params)
    review_id = _id(request, "review_id")
    async with Page(request, Permission.IDENTITY_WORK) as page:
        form = await guarded_form(request)
        same = form.get("answer") == "same"
        try:
            await page.change(
                "web:decideReview", f"identity work: review item {review_id}", decide_review,
                review_id, same, page.actor,
            )  # fmt: skip
        except StewardshipError as refused:
            return _refused(page, "Decision refused", refused, f"/steward/reviews/{review_id}?{view.query}")
        following = _next_item(await view.items(page), review_id)
        where = f"/steward/reviews/{following}" if following else HOME
        return RedirectResponse(f"{where}?{view.query}&done={review_id}", status_code=303)


async def undo_decision(request: Request) -> Response:
    view = QueueView.of(request.query_params)
    review_id = _id(request, "review_id")
    async with Page(request, Permission.IDENTITY_WORK) as page:
        await guarded_form(request)
        try:
            await page.change(
                "web:undoReviewDecision", f"identity work: review item {review_id}", undo_review_decision,
                review_id, page.actor,
            )  # fmt: skip
        except StewardshipError as refused:
            return _refused(page, "Undo refused", refused, f"/steward/reviews/{review_id}?{view.query}")
        return RedirectResponse(f"/steward/reviews/{review_id}?{view.query}", status_code=303)


# An identity ------------------------------------------------------------------------------------


def _birth_of(values: Any) -> str | None:
    """The birth date of a source row or a golden record's values, as recorded."""
    get = values.get if isinstance(values, Mapping) else lambda name: getattr(values, name)
    return review_view.birth_text(get("birth_year"), get("birth_month"), get("birth_day"))


async def patient(request: Request) -> Response:
    """An identity: golden record, source records by facility, history with undo, merge and split."""
    master_id = _id(request, "master_id")
    async with Page(request, Permission.IDENTITY_WORK) as page:
        answer = await page.read(answer_for(master_id))
        if answer is None:
            return _not_found(page, "patient")
        history = await page.read(identity_history(master_id))
        if not answer.active:
            return page.render(
                "steward/retired.html",
                {"answer": answer, "history": history, "kinds": HISTORY_KINDS, "back": request.url.path},
            )
        await page.audit([master_id], "web:patient", "identity work: identity page")
        sources = await page.read(reads.sources_of_masters([master_id]))
        by_facility: dict[str, list[Any]] = {}
        for source in sources:
            by_facility.setdefault(source.facility_code, []).append(source)
        golden = golden_record(sources)
        return page.render(
            "steward/patient.html",
            {
                "master_id": master_id,
                "golden": golden.values,
                "golden_birth": _birth_of(golden.values),
                "sexes": SEXES,
                "by_facility": by_facility,
                "birth": _birth_of,
                "history": history,
                "kinds": HISTORY_KINDS,
                "back": request.url.path,
                "message": request.query_params.get("message"),
            },
        )


def _reason(form: Any) -> str:
    return str(form.get("reason", ""))


async def merge(request: Request) -> Response:
    """Merge another identity into this one (the survivor)."""
    survivor = _id(request, "master_id")
    back = f"/steward/patients/{survivor}"
    async with Page(request, Permission.IDENTITY_WORK) as page:
        form = await guarded_form(request)
        merged = str(form.get("merged_id", "")).strip()
        reason = _reason(form)
        try:
            if not merged.isdigit():
                raise StewardshipError("give the id of the patient to merge into this one")
            done, _ = await page.change(
                "web:mergePatients", f"identity work: {reason}"[:200], merge_identities, survivor, int(merged),
                page.actor, reason, override_citizen_ids=form.get("override_citizen_ids") == "yes",
            )  # fmt: skip
        except StewardshipError as refused:
            return _refused(page, "Merge refused", refused, back)
        moved = len(done.moved)
        message = (
            f"Patient {done.merged_id} merged into this one ({moved} record{'s' if moved != 1 else ''})."
        )
        return RedirectResponse(f"{back}?{urlencode({'message': message})}", status_code=303)


async def undo_merge_page(request: Request) -> Response:
    merge_id = _id(request, "merge_id")
    async with Page(request, Permission.IDENTITY_WORK) as page:
        form = await guarded_form(request)
        reason = _reason(form)
        back = str(form.get("back", HOME))
        try:
            done, _ = await page.change(
                "web:undoMerge", f"identity work: {reason}"[:200], undo_merge, merge_id, page.actor, reason
            )
        except StewardshipError as refused:
            return _refused(page, "Undo refused", refused, back if back.startswith("/steward/") else HOME)
        message = f"Merge undone: patient {done.merged_id} has its own records again."
        return RedirectResponse(
            f"/steward/patients/{done.survivor_id}?{urlencode({'message': message})}", status_code=303
        )


async def split(request: Request) -> Response:
    """A source record out of its identity: back to the id it came from, or a new one; or, with a
    patient id, moved to that identity."""
    record = _id(request, "record_id")
    async with Page(request, Permission.IDENTITY_WORK) as page:
        form = await guarded_form(request)
        back = str(form.get("back", HOME))
        back = back if back.startswith("/steward/") else HOME
        target = str(form.get("patient_id", "")).strip()
        reason = _reason(form)
        try:
            if target and not target.isdigit():
                raise StewardshipError("a patient id is a number")
            done, _ = await page.change(
                "web:relinkSourceRecord", f"identity work: {reason}"[:200], relink, record,
                int(target) if target else None, page.actor, reason,
            )  # fmt: skip
        except StewardshipError as refused:
            return _refused(page, "Change refused", refused, back)
        message = f"Record {record} is now in patient {done.master_patient_id}."
        return RedirectResponse(f"{back}?{urlencode({'message': message})}", status_code=303)


# Search -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    master_id: int
    golden: dict[str, Any]
    birth: str | None
    facilities: list[str]
    weight: float | None  # by name and birth date: the match weight of its best record


def _birth_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


async def search(request: Request) -> Response:
    """Identities by citizen ID, or by name and birth date (ranked by the matching engine)."""
    params = request.query_params
    citizen_id = "".join(params.get("citizen_id", "").split())
    name = " ".join(params.get("name", "").split())[:255]
    born = _birth_date(params.get("birth_date", ""))
    async with Page(request, Permission.IDENTITY_WORK) as page:
        weights: dict[int, float | None] = {}
        error = None
        if citizen_id:
            if citizen_id.isdigit() and len(citizen_id) == 12:
                master = await page.read(reads.master_of_citizen(citizen_id))
                weights = {master: None} if master is not None else {}
            else:
                error = "A citizen ID is 12 digits."
        elif name:
            query = PatientQuery(name=name, birth_date=born)
            candidates = rank_candidates(query, await page.read(candidate_sources(query)), SEARCH_LENGTH)
            weights = {c.master_patient_id: c.weight for c in candidates}
        elif params.get("birth_date"):
            error = "Give a name with the birth date."
        audited = await page.audit(weights, "web:search", "identity work: finding an identity")
        sources = await page.read(reads.sources_of_masters(sorted(audited)))
        by_master = reads.grouped(sources, "master_patient_id")
        found = []
        for master, weight in weights.items():
            if master in by_master:
                golden = golden_record(by_master[master]).values
                found.append(
                    Found(
                        master,
                        golden,
                        _birth_of(golden),
                        sorted({s.facility_code for s in by_master[master]}),
                        weight,
                    )
                )
        searched = bool(citizen_id or name)
        return page.render(
            "steward/search.html",
            {
                "found": found,
                "searched": searched and error is None,
                "error": error,
                "citizen_id": params.get("citizen_id", ""),
                "name": params.get("name", ""),
                "birth_date": params.get("birth_date", ""),
            },
        )


def routes() -> list[BaseRoute]:
    return [
        Route("/steward/queue", queue, methods=["GET"]),
        Route("/steward/reviews/{review_id}", review_item, methods=["GET"]),
        Route("/steward/reviews/{review_id}/decide", decide, methods=["POST"]),
        Route("/steward/reviews/{review_id}/undo", undo_decision, methods=["POST"]),
        Route("/steward/patients/{master_id}", patient, methods=["GET"]),
        Route("/steward/patients/{master_id}/merge", merge, methods=["POST"]),
        Route("/steward/merges/{merge_id}/undo", undo_merge_page, methods=["POST"]),
        Route("/steward/records/{record_id}/relink", split, methods=["POST"]),
        Route("/steward/search", search, methods=["GET"]),
    ]
