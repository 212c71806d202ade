"""A per-request cache with ``RequestLocalCache``'s contract, kept in the request's environ."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyramid.request import Request


class EnvironRequestCache:
    """Pyramid's ``RequestLocalCache`` API and lifetime, at a third of the policy's cost.

    Pyramid's version tracks requests in a ``WeakKeyDictionary`` and registers a finished
    callback on each one: about 1 µs, a third of what the session policy costs a request. The
    environ lives exactly as long as the request, so a value stored under ``key`` needs neither.
    Request objects built on the same environ (the same HTTP request) share the value. A plain
    class: it shares no storage or code with Pyramid's, only the method names.
    """

    NO_VALUE: Any = object()

    def __init__(self, creator: Callable[[Request], Any], key: str) -> None:
        self._creator = creator
        self._key = key

    def get_or_create(
        self, request: Request, creator: Callable[[Request], Any] | None = None
    ) -> Any:
        environ = request.environ
        result = environ.get(self._key, self.NO_VALUE)
        if result is self.NO_VALUE:
            result = (creator or self._creator)(request)
            environ[self._key] = result
        return result

    def get(self, request: Request, default: Any = NO_VALUE) -> Any:
        return request.environ.get(self._key, default)

    def set(self, request: Request, value: Any) -> None:
        request.environ[self._key] = value

    def clear(self, request: Request) -> Any:
        return request.environ.pop(self._key, self.NO_VALUE)
