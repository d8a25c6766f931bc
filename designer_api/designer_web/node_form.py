"""A flow step's properties as a form, and a posted form back as the properties to write.

``fields(node)`` gives what the form shows (labels en/zh; approvers from roles, users, a field of the
record, an assignment rule or an expression; mode sequential / any / all / quorum; branches with their
conditions; the next step, the step after a rejection; the time limit and what happens then).
``props(form, node)`` turns the posted form into the properties ``flow_edit.set_node`` writes: a property
set to None is removed, one the form does not show is left as the file has it.
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError
from .base import is_number

APPROVER_KINDS = ("role", "user", "field", "assignment", "expr")
MODES = ("any", "all", "sequential", "quorum")
TIMEOUT_ACTIONS = ("remind", "escalate", "approve", "reject")
MAX_ROWS = 50


def _label(node: Any, lang: str) -> str:
    label = getattr(node, "label", None)
    if label is None:
        return ""
    if isinstance(label, str):
        return label if lang == "en" else ""
    return getattr(label, lang, None) or (label.get(lang, "") if isinstance(label, dict) else "") or ""


def fields(node: Any) -> dict[str, Any]:
    """The form's values for ``node`` (a flow node definition)."""
    out: dict[str, Any] = {"type": node.type, "label_en": _label(node, "en"), "label_zh": _label(node, "zh"),
                           "next": getattr(node, "next", None) or ""}
    if node.type == "approval":
        out["approvers"] = [next((k, getattr(a, k)) for k in APPROVER_KINDS if getattr(a, k) is not None)
                            for a in node.approvers]
        out["mode"] = "quorum" if node.min_approvals else node.mode
        out["min_approvals"] = node.min_approvals or ""
        out["on_reject"] = node.on_reject or ""
        timeouts = node.timeouts()
        out["timeout_editable"] = len(timeouts) <= 1 and not (timeouts and (timeouts[0].to or timeouts[0].when))
        first = timeouts[0] if timeouts else None
        out["timeout_after"] = first.after if first else ""
        out["timeout_action"] = first.action if first else "remind"
        out["escalate_role"] = (first.role or "") if first else ""
    if node.type in ("condition", "inclusive"):
        out["branches"] = [(b.when, b.to) for b in node.branches]
        out["default"] = node.default or ""
    return out


def _one(form: Any, name: str) -> str:
    return (form.get(name) or "").strip()


def _label_value(form: Any) -> dict[str, str] | None:
    en, zh = _one(form, "label_en"), _one(form, "label_zh")
    if not en and not zh:
        return None
    return {k: v for k, v in (("en", en), ("zh", zh)) if v}


def _target(form: Any, name: str, nodes: list[str], required: bool = False) -> str | None:
    value = _one(form, name)
    if not value:
        if required:
            raise ApiError(400, "bad_request", f"choose the step '{name}' goes to", field=name)
        return None
    if value not in nodes:
        raise ApiError(400, "bad_request", f"{name}: no step {value!r} in this flow", field=name)
    return value


def approvers(form: Any) -> list[dict[str, str]]:
    """The posted approver rows (``approver_kind`` / ``approver_value`` pairs), blank rows skipped."""
    kinds, values = form.all("approver_kind"), form.all("approver_value")
    if len(kinds) > MAX_ROWS:
        raise ApiError(400, "bad_request", f"at most {MAX_ROWS} approvers", field="approver_kind")
    out = []
    for kind, value in zip(kinds, values, strict=False):
        value = value.strip()
        if not value:
            continue
        if kind not in APPROVER_KINDS:
            raise ApiError(400, "bad_request", f"approver kind must be one of {', '.join(APPROVER_KINDS)}",
                           field="approver_kind")
        out.append({kind: value})
    if not out:
        raise ApiError(400, "bad_request", "an approval step needs at least one approver", field="approver_value")
    return out


def _approval(form: Any, nodes: list[str], shown: dict[str, Any]) -> dict[str, Any]:
    mode = _one(form, "mode") or "any"
    if mode not in MODES:
        raise ApiError(400, "bad_request", f"mode must be one of {', '.join(MODES)}", field="mode")
    props: dict[str, Any] = {"approvers": approvers(form), "mode": "all" if mode == "quorum" else mode,
                             "min_approvals": None, "on_reject": _target(form, "on_reject", nodes)}
    if mode == "quorum":
        raw = _one(form, "min_approvals")
        if not is_number(raw) or int(raw) < 1:
            raise ApiError(400, "bad_request", "quorum: give the number of approvals needed (1 or more)",
                           field="min_approvals")
        props["min_approvals"] = int(raw)
    if shown.get("timeout_editable", True):
        after = _one(form, "timeout_after")
        action = _one(form, "timeout_action") or "remind"
        if action not in TIMEOUT_ACTIONS:
            raise ApiError(400, "bad_request", f"when the time is up: one of {', '.join(TIMEOUT_ACTIONS)}",
                           field="timeout_action")
        if not after:
            props["timeout"] = None
        else:
            timeout: dict[str, Any] = {"after": after, "action": action}
            if action == "escalate":
                role = _one(form, "escalate_role")
                if not role:
                    raise ApiError(400, "bad_request", "escalate: name the role the task moves to",
                                   field="escalate_role")
                timeout["role"] = role
            props["timeout"] = timeout
    return props


def branches(form: Any, nodes: list[str]) -> list[dict[str, str]]:
    whens, tos = form.all("branch_when"), form.all("branch_to")
    if len(whens) > MAX_ROWS:
        raise ApiError(400, "bad_request", f"at most {MAX_ROWS} branches", field="branch_when")
    out = []
    for when, to in zip(whens, tos, strict=False):
        when, to = when.strip(), to.strip()
        if not when and not to:
            continue
        if not when:
            raise ApiError(400, "bad_request", f"the branch to {to!r} needs a condition", field="branch_when")
        if to not in nodes:
            raise ApiError(400, "bad_request", f"branch {when!r}: choose the step it goes to", field="branch_to")
        out.append({"when": when, "to": to})
    if not out:
        raise ApiError(400, "bad_request", "a condition step needs at least one branch", field="branch_when")
    return out


def props(form: Any, node: Any, nodes: list[str]) -> dict[str, Any]:
    """The properties of ``node`` the posted ``form`` sets (None removes one)."""
    shown = fields(node)
    out: dict[str, Any] = {"label": _label_value(form)}
    if node.type in ("condition", "inclusive"):
        out["branches"] = branches(form, nodes)
        out["default"] = _target(form, "default", nodes)
    elif hasattr(node, "next"):
        out["next"] = _target(form, "next", nodes)
    if node.type == "approval":
        out.update(_approval(form, nodes, shown))
    return out
