"""EnvironRequestCache keeps RequestLocalCache's contract: one value per request, made once."""

from __future__ import annotations

from pyramid.request import Request, RequestLocalCache

from loginsite.session.request_cache import EnvironRequestCache


def test_creates_once_per_request() -> None:
    calls: list[Request] = []

    def creator(request: Request) -> str:
        calls.append(request)
        return f"value {len(calls)}"

    cache = EnvironRequestCache(creator, "test.value")
    first, second = Request.blank("/"), Request.blank("/")
    assert cache.get_or_create(first) == "value 1"
    assert cache.get_or_create(first) == "value 1"
    assert cache.get_or_create(second) == "value 2"
    assert calls == [first, second]


def test_set_get_and_clear() -> None:
    cache = EnvironRequestCache(lambda request: "made", "test.value")
    request = Request.blank("/")
    assert cache.get(request) is EnvironRequestCache.NO_VALUE
    assert cache.get(request, None) is None
    cache.set(request, None)  # None is a value (anonymous), not "nothing cached"
    assert cache.get_or_create(request) is None
    assert cache.clear(request) is None
    assert cache.clear(request) is EnvironRequestCache.NO_VALUE
    assert cache.get_or_create(request) == "made"


def test_an_explicit_creator_wins() -> None:
    cache = EnvironRequestCache(lambda request: "bound", "test.value")
    request = Request.blank("/")
    assert cache.get_or_create(request, lambda r: "explicit") == "explicit"
    assert cache.get_or_create(request) == "explicit"


def test_the_value_lives_and_dies_with_the_environ() -> None:
    cache = EnvironRequestCache(lambda request: object(), "test.value")
    request = Request.blank("/")
    value = cache.get_or_create(request)
    assert Request(request.environ) is not request
    assert cache.get_or_create(Request(request.environ)) is value  # the same HTTP request
    assert request.environ["test.value"] is value


def test_offers_every_method_of_request_local_cache() -> None:
    """A drop-in for Pyramid's cache, without inheriting storage it would not use."""
    public = {name for name in vars(RequestLocalCache) if not name.startswith("_")}
    assert public - {"NO_VALUE"} <= set(dir(EnvironRequestCache))
