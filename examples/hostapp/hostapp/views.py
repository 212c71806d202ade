"""The app's pages; a permission on a view is all it takes to demand sign-in."""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from loginsite.auth import SIGNED_IN, VERIFIED


@view_config(route_name="home", renderer="hostapp:templates/home.jinja2")
def home(request: Any) -> dict[str, Any]:
    return {}


@view_config(
    route_name="reports", renderer="hostapp:templates/reports.jinja2", permission=SIGNED_IN
)
def reports(request: Any) -> dict[str, Any]:
    """Any signed-in user; an anonymous visitor is sent to sign in and comes back here."""
    return {"email": request.identity.email}


@view_config(
    route_name="benefits", renderer="hostapp:templates/benefits.jinja2", permission=VERIFIED
)
def benefits(request: Any) -> dict[str, Any]:
    """Only a user whose identity Login.gov verified; others are sent to verify it first."""
    return {}
