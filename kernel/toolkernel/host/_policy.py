"""The tool policy: which tools may run, which ask first, and how many calls are allowed.

`ToolHost.call` asks its policy before anything is sent, so the rules hold wherever the
host runs: in the kernel's process today, and in the `toolkernel host` service, where
the agent's code cannot reach them. One policy object serves one session (one kernel):
it remembers the "allow for this session" answers and counts the session's calls.

An approval is asked through the call's relay as an MCP form elicitation with one
required field, `answer`: `allow` (this call), `session` (this tool, for the rest of the
session) or `deny`, marked as an approval in its `_meta` (`APPROVAL_META`). JupyterLab
shows it as a dialog, other notebook front ends as an input prompt; through the bridge it
reaches the MCP client. Declining, cancelling, any other answer, a relay error and no
answer within `approval_timeout` all deny the call.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from traitlets import Bool, Float, Int, List, Unicode
from traitlets.config import Configurable

from toolkernel._spec import ClientRelay, ToolSpec, relay_can
from toolkernel.errors import ToolCallLimit, ToolDenied

__all__ = ["APPROVAL_ANSWERS", "APPROVAL_META", "ToolPolicy", "needs_approval"]

APPROVAL_ANSWERS = ("allow", "session", "deny")
"""The answers an approval request offers: this call, this tool for the session, no."""

APPROVAL_META = "toolkernel/approval"
"""The `_meta` key that marks an elicitation as an approval request, for a front end
that asks its own way (JupyterLab's dialog): `{"tool", "server", "reason", "arguments",
"timeout_s"}`, all plain text but `timeout_s` (seconds, a number)."""

_SUMMARY_CHARS = 200
_EXECUTIONS_KEPT = 256
"""Per-execution counts are kept for this many recent executions (older ones are done)."""


class ToolPolicy(Configurable):
    """Allowlist, approvals and call budgets for one session's tool calls.

    Its options are traits, set as `c.ToolPolicy.<name>` in a kernel's config (or in
    the tool host's). The defaults restrict nothing: a plain kernel behaves as before.
    """

    allow = List(
        Unicode(),
        ["*"],
        help=(
            "Patterns of the tools that may be called, matched against the qualified name "
            "(`server.tool`, `local.tool`): `*` for all, `github.*` for one server, "
            "`github.get_issue` for one tool. A call matching none is denied."
        ),
    ).tag(config=True)
    approve = List(
        Unicode(),
        help=(
            "Patterns (as in `allow`) of the tools that need a person's or the MCP client's "
            "approval before each call."
        ),
    ).tag(config=True)
    approve_destructive = Bool(
        False,
        help=(
            "Ask for approval before calling any tool annotated `destructiveHint: true` "
            "(and not `readOnlyHint: true`)."
        ),
    ).tag(config=True)
    approval_timeout = Float(
        120.0,
        min=0.0,
        help="Seconds an approval request waits for an answer; then the call is denied.",
    ).tag(config=True)
    max_calls_per_execution = Int(
        0,
        min=0,
        help=(
            "The most tool calls one cell execution may make, counted in the tool host; "
            "one more raises ToolCallLimit. 0: no cap."
        ),
    ).tag(config=True)
    max_calls_per_session = Int(
        0,
        min=0,
        help=(
            "The most tool calls the whole session (the kernel's life) may make; one more "
            "raises ToolCallLimit. 0: no cap."
        ),
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        """Take the traits above as keywords (or from a parent's config)."""
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._session_calls = 0
        self._execution_calls: OrderedDict[str, int] = OrderedDict()
        self._remembered: dict[str, str] = {}

    @property
    def session_calls(self) -> int:
        """How many calls this session has been allowed to make so far."""
        return self._session_calls

    @property
    def restricts(self) -> bool:
        """Whether any option restricts calls (the defaults do not: nothing to decide)."""
        return bool(
            self.allow != ["*"]
            or self.approve
            or self.approve_destructive
            or self.max_calls_per_execution
            or self.max_calls_per_session
        )

    async def admit(
        self,
        name: str,
        spec: ToolSpec | None,
        arguments: Mapping[str, Any],
        relay: ClientRelay | None,
        *,
        execution: str | None = None,
    ) -> str | None:
        """Decide one call of `name`: refuse it, ask about it, or let it through and count it.

        Args:
            name: The qualified tool name.
            spec: The tool's spec (its annotations say whether it is destructive), when
                known.
            arguments: The call's arguments, summarised in an approval question.
            relay: Asks the person or MCP client behind the call.
            execution: An id of the cell execution the call belongs to; None: none.

        Returns:
            How the call was approved (`allowed:<who>`, `remembered:<who>`), or None
            when it needed no approval.

        Raises:
            ToolDenied: The allowlist refuses it, or its approval was denied, not
                answered in time, or could not be asked.
            ToolCallLimit: The execution or the session used up its budget.
        """
        if not any(fnmatchcase(name, pattern) for pattern in self.allow):
            raise self._not_allowed(name)
        self._check_budgets(name, execution, count=False)
        reason = needs_approval(name, spec, self.approve, destructive=self.approve_destructive)
        approval = None
        if reason is not None:
            approval = await self._approve(name, reason, arguments, relay)
        self._check_budgets(name, execution, count=True)
        return approval

    # -- budgets ---------------------------------------------------------------------------

    def _check_budgets(self, name: str, execution: str | None, *, count: bool) -> None:
        with self._lock:
            per_cell = self._execution_calls.get(execution, 0) if execution is not None else 0
            session_cap, cell_cap = self.max_calls_per_session, self.max_calls_per_execution
            if session_cap > 0 and self._session_calls >= session_cap:
                raise _over_budget(name, session_cap, "this session", "max_calls_per_session")
            if execution is not None and cell_cap > 0 and per_cell >= cell_cap:
                raise _over_budget(name, cell_cap, "this cell", "max_calls_per_execution")
            if not count:
                return
            self._session_calls += 1
            if execution is not None:
                self._execution_calls[execution] = per_cell + 1
                self._execution_calls.move_to_end(execution)
                while len(self._execution_calls) > _EXECUTIONS_KEPT:
                    self._execution_calls.popitem(last=False)

    # -- approvals -------------------------------------------------------------------------

    async def _approve(
        self, name: str, reason: str, arguments: Mapping[str, Any], relay: ClientRelay | None
    ) -> str:
        remembered = self._remembered.get(name)
        if remembered is not None:
            return f"remembered:{remembered}"
        if not relay_can(relay, "elicitation") or relay is None:
            raise _nobody_to_ask(name, reason)
        who = str(getattr(relay, "party", "client"))
        try:
            async with asyncio.timeout(self.approval_timeout):
                question = _question(name, reason, arguments, self.approval_timeout)
                answer = await relay("elicitation/create", question)
        except TimeoutError as exc:
            msg = (
                f"{name} was not called: nobody answered its approval request within "
                f"{self.approval_timeout:g} s (c.ToolPolicy.approval_timeout). Call it again "
                "and answer the request, or raise the timeout"
            )
            raise ToolDenied(msg, tool=name, by="timeout") from exc
        except Exception as exc:  # the relay could not ask: nobody approved it
            msg = f"{name} was not called: its approval request failed ({exc})"
            raise ToolDenied(msg, tool=name, by=who) from exc
        choice = _choice(answer)
        if choice == "deny":
            msg = (
                f"{name} was not called: the {who} denied it when asked for approval "
                f"({reason}). Ask them before calling it again"
            )
            raise ToolDenied(msg, tool=name, by=who)
        if choice == "session":
            self._remembered[name] = who
        return f"allowed:{who}"

    def _not_allowed(self, name: str) -> ToolDenied:
        server = name.partition(".")[0]
        msg = (
            f"{name} was not called: the tool policy does not allow it (c.ToolPolicy.allow = "
            f"{list(self.allow)!r}). To allow it, add {f'{server}.*'!r} or {name!r} to "
            "c.ToolPolicy.allow in the config of the kernel (or of the tool host)"
        )
        return ToolDenied(msg, tool=name, by="policy")


def needs_approval(
    name: str, spec: ToolSpec | None, patterns: list[str], *, destructive: bool
) -> str | None:
    """Why a call of `name` needs approval, or None when it does not.

    Args:
        name: The qualified tool name.
        spec: The tool's spec, when known; its annotations may mark it destructive.
        patterns: The `approve` patterns.
        destructive: Whether tools annotated `destructiveHint: true` need approval.
    """
    if any(fnmatchcase(name, pattern) for pattern in patterns):
        return "it is listed in c.ToolPolicy.approve"
    annotations = (spec.annotations if spec is not None else None) or {}
    if (
        destructive
        and annotations.get("destructiveHint") is True
        and annotations.get("readOnlyHint") is not True
    ):
        return "it is annotated destructiveHint: true"
    return None


def _question(
    name: str, reason: str, arguments: Mapping[str, Any], timeout_s: float
) -> dict[str, Any]:
    """The `elicitation/create` params that ask whether `name` may run with `arguments`."""
    summary = json.dumps(dict(arguments), separators=(", ", ": "), default=str)
    if len(summary) > _SUMMARY_CHARS:
        summary = summary[: _SUMMARY_CHARS - 3] + "..."
    about = {
        "tool": name,
        "server": name.partition(".")[0],
        "reason": reason,
        "arguments": summary,
        "timeout_s": timeout_s,
    }
    return {
        "_meta": {APPROVAL_META: about},
        "message": f"Allow the tool {name} to run? Asked because {reason}. Arguments: {summary}",
        "requestedSchema": {
            "type": "object",
            "properties": {
                "answer": {
                    "type": "string",
                    "title": f"Allow {name}?",
                    "description": (
                        f"allow {name} (this call only), session (allow {name} for the rest "
                        "of this session), or deny"
                    ),
                    "enum": list(APPROVAL_ANSWERS),
                }
            },
            "required": ["answer"],
        },
    }


def _choice(answer: Mapping[str, Any]) -> str:
    """`allow`, `session` or `deny`, from an elicitation result; anything unclear denies."""
    if answer.get("action") != "accept":
        return "deny"
    content = answer.get("content") or {}
    choice = str(content.get("answer", "")).strip().lower() if isinstance(content, dict) else ""
    return choice if choice in ("allow", "session") else "deny"


def _nobody_to_ask(name: str, reason: str) -> ToolDenied:
    msg = (
        f"{name} was not called: it needs approval ({reason}), and nobody can be asked here "
        "(no notebook prompt, and no MCP client that supports elicitation). Call it from a "
        "notebook or from such a client, or, to let it run without asking, remove it from "
        "c.ToolPolicy.approve (or set c.ToolPolicy.approve_destructive = False) in the "
        "config of the kernel (or of the tool host)"
    )
    return ToolDenied(msg, tool=name, by="policy")


def _over_budget(name: str, cap: int, scope: str, trait: str) -> ToolCallLimit:
    msg = (
        f"{name} was not called: {scope} already made {cap} tool calls, the most the tool "
        f"policy allows (c.ToolPolicy.{trait}={cap}). Make fewer calls (a pipeline or a "
        f"batch tool does many in one), or raise c.ToolPolicy.{trait} in the config of "
        "the kernel (or of the tool host; 0 turns it off)"
    )
    return ToolCallLimit(msg, tool=name, limit=cap)
