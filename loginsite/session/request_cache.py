"""A per-request cache with ``RequestLocalCache``'s contract, kept in the request's environ."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyramid.request import RequestLocalCache

if TYPE_CHECKING:
    from pyramid.request import Request


class EnvironRequestCache(RequestLocalCache):
    """Same API and lifetime as Pyramid's ``RequestLocalCache``, at a third of the policy's cost.

    Pyramid's version tracks requests in a ``WeakKeyDictionary`` and registers a finished
    callback on each one: about 1 µs, a third of what the session policy costs a request. The
    environ lives exactly as long as the request, so a value stored under ``key`` needs neither.
    Request objects built on the same environ (the same HTTP request) share the value.
    """

    def __init__(self, creator: Callable[[Request], Any], key: str) -> None:
        super().__init__(creator)
        self._key = key

    def get_or_create(self, request: Request, creator: Callable[[Request], Any] | None = None):
        environ = request.environ
        result = environ.get(self._key, self.NO_VALUE)
        if result is self.NO_VALUE:
            result = (creator or self._creator)(request)
            environ[self._key] = result
        return result

    def get(self, request: Request, default: Any = RequestLocalCache.NO_VALUE) -> Any:
        return request.environ.get(self._key, default)

    def set(self, request: Request, value: Any) -> None:
        request.environ[self._key] = value

    def clear(self, request: Request) -> Any:
        return request.environ.pop(self._key, self.NO_VALUE)
