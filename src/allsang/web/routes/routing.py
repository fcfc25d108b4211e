"""Routing admin: the ordered rules, and each department's business hours and SLA targets."""

from __future__ import annotations

from typing import Annotated, Any

from babel.dates import get_day_names
from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from allsang import audit, i18n
from allsang.db.models import (
    PRIORITIES,
    Channel,
    Conversation,
    Department,
    Membership,
    Person,
    Tag,
)
from allsang.db.models.routing import DepartmentHours, RoutingRule, SlaTarget
from allsang.db.types import utcnow
from allsang.listening.intent import INTENTS
from allsang.listening.query import QuerySyntaxError
from allsang.routing import sla
from allsang.routing.forms import FormatError, parse_dates, parse_intervals, weekly_text
from allsang.routing.hours import BusinessHours, hours_for_department, hours_to_config
from allsang.routing.rules import CONTACT_KINDS, SENTIMENTS, clean_conditions
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.timezones import TIMEZONES
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter(prefix="/routing")

INTENT_LABELS = {
    "question": i18n.N_("A question"),
    "complaint": i18n.N_("A complaint"),
    "praise": i18n.N_("Praise or thanks"),
    "sales_lead": i18n.N_("A sales lead"),
    "job": i18n.N_("A job or HR matter"),
    "press": i18n.N_("A press request"),
}
SENTIMENT_LABELS = {
    "pos": i18n.N_("Positive"),
    "neu": i18n.N_("Neutral"),
    "neg": i18n.N_("Negative"),
}
CONTACT_LABELS = {
    "any": i18n.N_("Any contact"),
    "known": i18n.N_("Known contact (has written before)"),
    "new": i18n.N_("New contact"),
}
PRIORITY_LABELS = {
    "low": i18n.N_("Low"),
    "normal": i18n.N_("Normal"),
    "high": i18n.N_("High"),
    "urgent": i18n.N_("Urgent"),
}


def _sla_state(conversation: Conversation) -> str | None:
    return sla.state(conversation, utcnow())


# Helpers every template gets (the inbox shows the SLA badge with them).
TEMPLATE_GLOBALS = {"sla_state": _sla_state}


def _workspace(viewer: Viewer) -> int:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    return workspace_id


async def _choices(session: AsyncSession, workspace_id: int) -> dict[str, Any]:
    """What the rule form offers: departments, people, channels, tags."""
    departments = list(
        await session.scalars(
            select(Department)
            .where(Department.workspace_id == workspace_id)
            .order_by(func.lower(Department.name))
        )
    )
    people = list(
        await session.scalars(
            select(Person)
            .join(Membership, Membership.person_id == Person.id)
            .where(
                Membership.workspace_id == workspace_id,
                Membership.role != "display",
                Person.is_active.is_(True),
            )
            .order_by(func.lower(Person.name))
        )
    )
    channels = list(
        await session.scalars(
            select(Channel).where(Channel.workspace_id == workspace_id).order_by(Channel.name)
        )
    )
    tags = list(
        await session.scalars(
            select(Tag).where(Tag.workspace_id == workspace_id).order_by(func.lower(Tag.name))
        )
    )
    return {
        "departments": departments,
        "people": people,
        "channels": channels,
        "tags": tags,
        "intents": [(i, INTENT_LABELS[i]) for i in INTENTS],
        "sentiments": [(s, SENTIMENT_LABELS[s]) for s in SENTIMENTS],
        "contacts": [(c, CONTACT_LABELS[c]) for c in CONTACT_KINDS],
        "priorities": [(p, PRIORITY_LABELS[p]) for p in PRIORITIES],
    }


# Rules -------------------------------------------------------------------------------------


async def _rules(session: AsyncSession, workspace_id: int) -> list[RoutingRule]:
    return list(
        await session.scalars(
            select(RoutingRule)
            .where(RoutingRule.workspace_id == workspace_id)
            .order_by(RoutingRule.position, RoutingRule.id)
        )
    )


@router.get("")
async def routing_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("routing.view"))]
) -> Response:
    workspace_id = _workspace(viewer)
    async with runtime_of(request).db.read() as session:
        rules = await _rules(session, workspace_id)
        choices = await _choices(session, workspace_id)
        hours = {
            row.department_id: row
            for row in await session.scalars(
                select(DepartmentHours).where(
                    DepartmentHours.department_id.in_([d.id for d in choices["departments"]])
                )
            )
        }
        targets: dict[int, list[SlaTarget]] = {}
        for target in await session.scalars(
            select(SlaTarget).where(
                SlaTarget.department_id.in_([d.id for d in choices["departments"]])
            )
        ):
            targets.setdefault(target.department_id, []).append(target)
    names = {
        "departments": {d.id: d.name for d in choices["departments"]},
        "people": {p.id: p.name for p in choices["people"]},
        "tags": {t.id: t.name for t in choices["tags"]},
    }
    return render(
        request,
        "routing/index.html",
        {
            "rules": rules,
            "names": names,
            "hours": hours,
            "targets": targets,
            "priority_labels": PRIORITY_LABELS,
            "section": "routing",
            **choices,
        },
    )


def _rule_form(
    request: Request,
    choices: dict[str, Any],
    rule: dict[str, Any],
    *,
    rule_id: int | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "routing/rule.html",
        {"rule": rule, "rule_id": rule_id, "error": error, "section": "routing", **choices},
        status_code=status_code,
    )


def _blank_rule() -> dict[str, Any]:
    return {"name": "", "conditions": {}, "stop": True, "enabled": True, "round_robin": True}


def _rule_dict(rule: RoutingRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "conditions": dict(rule.conditions),
        "department_id": rule.department_id,
        "person_id": rule.person_id,
        "round_robin": rule.round_robin,
        "tag_id": rule.tag_id,
        "priority": rule.priority or "",
        "stop": rule.stop,
        "enabled": rule.enabled,
    }


@router.get("/rules/new")
async def new_rule_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("routing.manage"))]
) -> Response:
    async with runtime_of(request).db.read() as session:
        choices = await _choices(session, _workspace(viewer))
    return _rule_form(request, choices, _blank_rule())


@router.get("/rules/{rule_id}")
async def edit_rule_page(
    request: Request, rule_id: int, viewer: Annotated[Viewer, Depends(require("routing.manage"))]
) -> Response:
    async with runtime_of(request).db.read() as session:
        rule = await _rule(session, _workspace(viewer), rule_id)
        choices = await _choices(session, _workspace(viewer))
    return _rule_form(request, choices, _rule_dict(rule), rule_id=rule_id)


async def _rule(session: AsyncSession, workspace_id: int, rule_id: int) -> RoutingRule:
    rule = await session.get(RoutingRule, rule_id)
    if rule is None or rule.workspace_id != workspace_id:
        raise PageError(404, i18n.gettext("That rule does not exist."))
    return rule


def _split(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def _optional_id(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


async def _submitted_rule(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {
        "name": str(form.get("name") or "").strip(),
        "conditions": {
            "query": str(form.get("query") or ""),
            "languages": _split(str(form.get("languages") or "")),
            "intents": [str(v) for v in form.getlist("intents")],
            "sentiments": [str(v) for v in form.getlist("sentiments")],
            "channel_ids": [int(str(v)) for v in form.getlist("channel_ids") if str(v).isdigit()],
            "handles": _split(str(form.get("handles") or "")),
            "contact": str(form.get("contact") or "any"),
        },
        "department_id": _optional_id(str(form.get("department_id") or "")),
        "person_id": _optional_id(str(form.get("person_id") or "")),
        "round_robin": form.get("round_robin") == "on",
        "tag_id": _optional_id(str(form.get("tag_id") or "")),
        "priority": str(form.get("priority") or ""),
        "stop": form.get("stop") == "on",
        "enabled": form.get("enabled") == "on",
    }


def _validate(rule: dict[str, Any], choices: dict[str, Any]) -> str:
    """An error message for the submitted rule, or "" (cleans its conditions in place)."""
    if not rule["name"] or len(rule["name"]) > 200:
        return i18n.gettext("Give the rule a name (at most 200 characters).")
    try:
        rule["conditions"] = clean_conditions(rule["conditions"])
    except QuerySyntaxError as exc:
        return i18n.gettext("The query is not valid: %(reason)s") % {"reason": str(exc)}
    except ValueError:
        return i18n.gettext("Choose conditions from the lists.")
    owned = {
        "department_id": {d.id for d in choices["departments"]},
        "person_id": {p.id for p in choices["people"]},
        "tag_id": {t.id for t in choices["tags"]},
    }
    for key, ids in owned.items():
        if rule[key] is not None and rule[key] not in ids:
            return i18n.gettext("Choose actions from the lists.")
    channel_ids = {c.id for c in choices["channels"]}
    if not set(rule["conditions"].get("channel_ids", [])) <= channel_ids:
        return i18n.gettext("Choose conditions from the lists.")
    if rule["priority"] and rule["priority"] not in PRIORITIES:
        return i18n.gettext("Choose actions from the lists.")
    return ""


def _apply(row: RoutingRule, rule: dict[str, Any]) -> None:
    row.name = rule["name"]
    row.conditions = rule["conditions"]
    row.department_id = rule["department_id"]
    row.person_id = rule["person_id"]
    row.round_robin = rule["round_robin"]
    row.tag_id = rule["tag_id"]
    row.priority = rule["priority"] or None
    row.stop = rule["stop"]
    row.enabled = rule["enabled"]


@router.post("/rules")
async def create_rule(
    request: Request, viewer: Annotated[Viewer, Depends(require("routing.manage"))]
) -> Response:
    workspace_id = _workspace(viewer)
    rule = await _submitted_rule(request)
    async with runtime_of(request).db.write() as session:
        choices = await _choices(session, workspace_id)
        error = _validate(rule, choices)
        if not error:
            last = await session.scalar(
                select(func.max(RoutingRule.position)).where(
                    RoutingRule.workspace_id == workspace_id
                )
            )
            row = RoutingRule(workspace_id=workspace_id, position=(last or 0) + 1)
            _apply(row, rule)
            session.add(row)
            await session.flush()
            audit.record(
                session, viewer.actor, "routing_rule.create", "routing_rule", row.id,
                ip=client_ip(request), name=row.name,
            )  # fmt: skip
    if error:
        return _rule_form(request, choices, rule, error=error, status_code=422)
    return redirect("/routing", ok="created")


@router.post("/rules/{rule_id}")
async def update_rule(
    request: Request, rule_id: int, viewer: Annotated[Viewer, Depends(require("routing.manage"))]
) -> Response:
    workspace_id = _workspace(viewer)
    rule = await _submitted_rule(request)
    async with runtime_of(request).db.write() as session:
        row = await _rule(session, workspace_id, rule_id)
        choices = await _choices(session, workspace_id)
        error = _validate(rule, choices)
        if not error:
            _apply(row, rule)
            audit.record(
                session, viewer.actor, "routing_rule.update", "routing_rule", row.id,
                ip=client_ip(request), name=row.name,
            )  # fmt: skip
    if error:
        return _rule_form(request, choices, rule, rule_id=rule_id, error=error, status_code=422)
    return redirect("/routing", ok="saved")


@router.post("/rules/{rule_id}/delete")
async def delete_rule(
    request: Request, rule_id: int, viewer: Annotated[Viewer, Depends(require("routing.manage"))]
) -> Response:
    async with runtime_of(request).db.write() as session:
        row = await _rule(session, _workspace(viewer), rule_id)
        audit.record(
            session, viewer.actor, "routing_rule.delete", "routing_rule", row.id,
            ip=client_ip(request), name=row.name,
        )  # fmt: skip
        await session.delete(row)
    return redirect("/routing", ok="deleted")


@router.post("/rules/{rule_id}/move")
async def move_rule(
    request: Request,
    rule_id: int,
    viewer: Annotated[Viewer, Depends(require("routing.manage"))],
    direction: Annotated[str, Form()] = "up",
) -> Response:
    """Swap the rule with its neighbour; positions are renumbered 1…n on the way."""
    workspace_id = _workspace(viewer)
    async with runtime_of(request).db.write() as session:
        await _rule(session, workspace_id, rule_id)
        rules = await _rules(session, workspace_id)
        index = next(i for i, r in enumerate(rules) if r.id == rule_id)
        other = index - 1 if direction == "up" else index + 1
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
        for position, rule in enumerate(rules, start=1):
            rule.position = position
    return redirect("/routing", ok="saved")


# Business hours and SLA targets per department --------------------------------------------


async def _department(session: AsyncSession, workspace_id: int, department_id: int) -> Department:
    department = await session.get(Department, department_id)
    if department is None or department.workspace_id != workspace_id:
        raise PageError(404, i18n.gettext("That department does not exist."))
    return department


async def _department_page(
    request: Request,
    viewer: Viewer,
    department_id: int,
    *,
    form: dict[str, Any] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    workspace_id = _workspace(viewer)
    async with runtime_of(request).db.read() as session:
        department = await _department(session, workspace_id, department_id)
        row = await session.scalar(
            select(DepartmentHours).where(DepartmentHours.department_id == department.id)
        )
        hours = await hours_for_department(session, department.id) if row else None
        targets = {
            t.priority: t
            for t in await session.scalars(
                select(SlaTarget).where(SlaTarget.department_id == department.id)
            )
        }
        workspace_timezone = viewer.workspace.timezone if viewer.workspace else "UTC"
    if form is None:
        form = {
            "timezone": hours.timezone if hours else workspace_timezone,
            "weekly": weekly_text(hours),
            "closed": "\n".join(sorted(d.isoformat() for d in hours.closed_dates)) if hours else "",
        }
    days = get_day_names("wide", locale=i18n.current_locale())
    return render(
        request,
        "routing/department.html",
        {
            "department": department,
            "has_hours": row is not None,
            "form": form,
            "days": [(d, days[d]) for d in range(7)],
            "timezones": TIMEZONES,
            "targets": targets,
            "priorities": [("", i18n.N_("Department default")), *PRIORITY_LABELS.items()],
            "error": error,
            "section": "routing",
        },
        status_code=status_code,
    )


@router.get("/departments/{department_id}")
async def department_page(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("routing.view"))],
) -> Response:
    return await _department_page(request, viewer, department_id)


@router.post("/departments/{department_id}/hours")
async def save_hours(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("routing.manage"))],
) -> Response:
    submitted = await request.form()
    form = {
        "timezone": str(submitted.get("timezone") or ""),
        "weekly": {d: str(submitted.get(f"day{d}") or "") for d in range(7)},
        "closed": str(submitted.get("closed") or ""),
    }
    error = ""
    if not i18n.valid_timezone(form["timezone"]):
        error = i18n.gettext("Choose a time zone from the list.")
    else:
        try:
            hours = BusinessHours(
                timezone=form["timezone"],
                weekly={d: parse_intervals(text) for d, text in form["weekly"].items()},
                closed_dates=parse_dates(form["closed"]),
            )
        except FormatError as exc:
            error = i18n.gettext(
                "Could not read “%(text)s”. Write times as 08:00-17:00 and dates as 2026-12-24."
            ) % {"text": str(exc)}
        except ValueError:
            error = i18n.gettext(
                "Check the hours: each interval must end after it starts, without overlaps."
            )
    if error:
        return await _department_page(
            request, viewer, department_id, form=form, error=error, status_code=422
        )
    weekly, closed = hours_to_config(hours)
    async with runtime_of(request).db.write() as session:
        department = await _department(session, _workspace(viewer), department_id)
        row = await session.scalar(
            select(DepartmentHours).where(DepartmentHours.department_id == department.id)
        )
        if row is None:
            row = DepartmentHours(department_id=department.id)
            session.add(row)
        row.timezone, row.weekly, row.closed_dates = hours.timezone, weekly, closed
        audit.record(
            session, viewer.actor, "department.hours", "department", department.id,
            ip=client_ip(request), timezone=hours.timezone, weekly=weekly, closed_dates=closed,
        )  # fmt: skip
    return redirect(f"/routing/departments/{department_id}", ok="saved")


@router.post("/departments/{department_id}/hours/delete")
async def delete_hours(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("routing.manage"))],
) -> Response:
    async with runtime_of(request).db.write() as session:
        department = await _department(session, _workspace(viewer), department_id)
        row = await session.scalar(
            select(DepartmentHours).where(DepartmentHours.department_id == department.id)
        )
        if row is not None:
            await session.delete(row)
            audit.record(
                session, viewer.actor, "department.hours_delete", "department", department.id,
                ip=client_ip(request),
            )  # fmt: skip
    return redirect(f"/routing/departments/{department_id}", ok="deleted")


def _minutes(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) <= 525_600:
        raise ValueError(value)
    return int(value)


@router.post("/departments/{department_id}/sla")
async def save_sla(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("routing.manage"))],
) -> Response:
    submitted = await request.form()
    wanted: dict[str, tuple[int | None, int | None]] = {}
    try:
        for priority in ("", *PRIORITIES):
            first = _minutes(str(submitted.get(f"first_{priority or 'default'}") or ""))
            following = _minutes(str(submitted.get(f"next_{priority or 'default'}") or ""))
            if first is not None or following is not None:
                wanted[priority] = (first, following)
    except ValueError:
        return await _department_page(
            request,
            viewer,
            department_id,
            error=i18n.gettext("Targets are whole minutes, more than 0."),
            status_code=422,
        )
    async with runtime_of(request).db.write() as session:
        department = await _department(session, _workspace(viewer), department_id)
        existing = {
            t.priority: t
            for t in await session.scalars(
                select(SlaTarget).where(SlaTarget.department_id == department.id)
            )
        }
        for priority, target in existing.items():
            if priority not in wanted:
                await session.delete(target)
        for priority, (first, following) in wanted.items():
            target = existing.get(priority) or SlaTarget(
                department_id=department.id, priority=priority
            )
            target.first_response_minutes, target.next_response_minutes = first, following
            session.add(target)
        audit.record(
            session, viewer.actor, "department.sla", "department", department.id,
            ip=client_ip(request), targets={p or "default": t for p, t in wanted.items()},
        )  # fmt: skip
    return redirect(f"/routing/departments/{department_id}", ok="saved")
