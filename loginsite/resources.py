"""loginsite's own traversal tree: each resource carries the ACL that guards its views.

The sign-in views are not in it: they are routes (``loginsite.auth.urls``), the same in any app.
"""

from __future__ import annotations

from typing import Any

from pyramid.authorization import DENY_ALL, Allow, Authenticated, Everyone

from loginsite.session import acr_principal
from loginsite.settings import ACR_VERIFIED


class Resource:
    __name__: str = ""
    __parent__: Resource | None = None
    __acl__: list[Any] = []
    children: dict[str, type[Resource]] = {}

    def __init__(self, name: str = "", parent: Resource | None = None) -> None:
        self.__name__ = name
        self.__parent__ = parent

    def __getitem__(self, name: str) -> Resource:
        return self.children[name](name, self)


class VerifiedAccount(Resource):
    """Pages that need an identity-verified (IAL2) sign-in."""

    required_acr = ACR_VERIFIED
    __acl__ = [(Allow, acr_principal(ACR_VERIFIED), "view"), DENY_ALL]


class Account(Resource):
    __acl__ = [(Allow, Authenticated, "view"), DENY_ALL]
    children = {"verified": VerifiedAccount}


class Root(Resource):
    __acl__ = [(Allow, Everyone, "view")]
    children = {"account": Account}


def root_factory(request: Any) -> Root:
    return Root()


def site_root(request: Any) -> Root:
    """The root that page links are built from (``request.resource_path(request.site_root)``).

    Traversal sets ``request.root``, but an error page rendered before traversal ran (a bad
    header refused by a tween, say) still needs links, so fall back to a fresh root.
    """
    root = getattr(request, "root", None)
    return root if isinstance(root, Root) else Root()


def account_path(request: Any) -> str:
    """The account page, where a signed-in user who may not open a page is sent."""
    return request.resource_path(request.site_root["account"])


def includeme(config: Any) -> None:
    config.set_root_factory(root_factory)
    config.add_request_method(site_root, "site_root", reify=True)
    config.add_request_method(account_path, "account_path", reify=True)
