"""The one base of every failure the planner expects.

The CLI turns any of them into one clear line and exit status 1; anything else is a bug
and keeps its traceback. Failures of the trust code shared with clients derive from
clientkit.errors.ClientKitError instead (the kit cannot depend on the planner).
"""

from __future__ import annotations


class PlannerError(Exception):
    """Something the operator can fix or must know: the message says what and where."""
