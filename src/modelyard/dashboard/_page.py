"""What a dashboard page is made of: a name, a title and the JSON routes its script reads.

A page is one module in ``pages/`` that defines a :class:`Page`, plus one script,
``static/pages/<name>.js``, that the browser loads when the page is opened. Handlers get
the :class:`UiContext` and the request's :class:`Query` and return JSON-able data; plain
functions run on a worker thread (they query the metadata database), coroutines on the
event loop (only for what must not block and does no I/O, such as live server metrics).
Routes read with GET; the few that change something (acknowledging an alert) are POST.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import ValidationError
from modelyard.serving._http import request_info

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams
    from starlette.requests import Request

    from modelyard._workspace import Workspace
    from modelyard.dashboard._live import LiveMetrics

__all__ = ["ApiRoute", "Handler", "Page", "Query", "UiContext"]


@dataclass(frozen=True, slots=True)
class UiContext:
    """What handlers share: the workspace, and the server's live metrics when the dashboard
    is mounted in ``modelyard serve`` (None when it runs on its own)."""

    workspace: Workspace
    live: LiveMetrics | None = None


Handler = Callable[[UiContext, "Query"], Any] | Callable[[UiContext, "Query"], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """``GET /ui/api<path>`` (or ``method``); ``path`` may hold Starlette path parameters
    (``{name}``)."""

    path: str
    handler: Handler
    method: str = "GET"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the dashboard: ``#/<name>`` in the browser, ``static/pages/<name>.js``."""

    name: str
    title: str
    routes: tuple[ApiRoute, ...]


class Query:
    """A request's path and query parameters, read with types; a bad value is a
    ValidationError (422) that names the parameter. ``key`` is the name of the API key the
    request came with (None when the dashboard runs without auth)."""

    def __init__(
        self, path: Mapping[str, Any], params: QueryParams, key: str | None = None
    ) -> None:
        self.path = path
        self._params = params
        self.key = key

    @classmethod
    def of(cls, request: Request) -> Query:
        return cls(request.path_params, request.query_params, request_info(request.scope).key)

    def __getitem__(self, name: str) -> str:
        """A path parameter (always present: the route matched it)."""
        return str(self.path[name])

    def text(self, name: str, default: str = "", *, max_length: int = 10_000) -> str:
        value = self._params.get(name, default)
        if len(value) > max_length:
            raise _invalid(
                f"query parameter {name!r}", name, f"is longer than {max_length} characters"
            )
        return value

    def texts(self, name: str, *, limit: int = 100) -> list[str]:
        """Every non-empty value of a repeated parameter (``?run=a&run=b``)."""
        values = [v.strip() for v in self._params.getlist(name) if v.strip()]
        if len(values) > limit:
            what = f"query parameter {name!r}"
            raise _invalid(what, name, f"takes at most {limit} values, got {len(values)}")
        return values

    def choice(self, name: str, choices: Sequence[str], default: str) -> str:
        """A query parameter that is one of ``choices`` (``default`` if absent)."""
        value = self._params.get(name) or default
        if value not in choices:
            allowed = ", ".join(choices)
            raise _invalid(
                f"query parameter {name!r}", name, f"must be one of {allowed}, not {value[:40]!r}"
            )
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        """A query parameter that is a whole number in [low, high] (``default`` if absent)."""
        raw = self._params.get(name)
        if raw is None or raw == "":
            return default
        return _whole(raw, low, high, f"query parameter {name!r}", name)

    def path_integer(self, name: str, *, low: int, high: int) -> int:
        """A path parameter that is a whole number in [low, high]."""
        return _whole(self[name], low, high, name, name)


def _whole(raw: str, low: int, high: int, what: str, name: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(what, name, f"must be a whole number, not {raw[:40]!r}") from None
    if not low <= value <= high:
        raise _invalid(what, name, f"must be between {low} and {high}, not {value}")
    return value


def _invalid(what: str, name: str, reason: str) -> ValidationError:
    return ValidationError(f"{what} {reason}", details={"parameter": name})
