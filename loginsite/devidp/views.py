"""HTTP for the development provider: each view translates a request into a DevProvider call."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPFound, HTTPSeeOther
from pyramid.renderers import render_to_response
from pyramid.response import Response

from loginsite.oidc.security_event import END_SESSIONS, EVENT_TYPES
from loginsite.settings import ACR_VERIFIED, get_app_settings

from . import SENDER_KEY, get_provider
from .provider import (
    AuthorizationRequest,
    DevProvider,
    ErrorPage,
    RedirectError,
    TokenError,
    UserinfoError,
)
from .security_events import EMAIL_SUBJECT_EVENTS

TEMPLATES = "loginsite.devidp:templates/"
LEVEL_LABELS = {
    ACR_VERIFIED: "Identity verified (IAL2): the user has verified their identity",
    "urn:acr.login.gov:auth-only": "Authentication only (IAL1): the user has only signed in",
}


def _provider(request: Any) -> DevProvider:
    return get_provider(request.registry)


def _page(request: Any, template: str, status: int = 200, **values: Any) -> Any:
    values.setdefault("provider", _provider(request))
    response = render_to_response(TEMPLATES + template, values, request=request)
    response.status_int = status
    return response


def _error_page(request: Any, error: ErrorPage) -> Any:
    return _page(request, "error.html", 400, title=error.title, message=error.message)


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    response = Response(json_body=body, status=status, charset="utf-8")
    response.headers.update(headers)
    response.headers["Pragma"] = "no-cache"
    return response


def home(request: Any) -> Any:
    return _page(request, "home.html", title="Development identity provider")


def discovery(request: Any) -> Response:
    return _json(_provider(request).discovery())


def jwks(request: Any) -> Response:
    return _json(_provider(request).jwks())


def _authorize_page(
    request: Any, auth: AuthorizationRequest, status: int = 200, error: str | None = None
) -> Any:
    chosen = request.POST.get("user") if request.method == "POST" else None
    return _page(
        request,
        "authorize.html",
        status,
        title="Sign in to the development identity provider",
        auth=auth,
        fields=auth.form_fields(),
        levels=[(level, LEVEL_LABELS[level]) for level in auth.levels_offered],
        chosen_user=chosen,
        chosen_level=request.POST.get("level") if request.method == "POST" else None,
        other_email=request.POST.get("email", "") if request.method == "POST" else "",
        error=error,
    )


def authorize(request: Any) -> Any:
    provider = _provider(request)
    params = request.GET if request.method == "GET" else request.POST
    try:
        auth = provider.validate_authorization_request(params)
    except ErrorPage as exc:
        return _error_page(request, exc)
    except RedirectError as exc:
        redirect = HTTPFound if request.method == "GET" else HTTPSeeOther
        return redirect(location=exc.location)
    if request.method == "GET":
        return _authorize_page(request, auth)
    if request.POST.get("action") == "cancel":
        return HTTPSeeOther(location=provider.deny(auth))
    user = request.POST.get("user", "")
    email = request.POST.get("email", "") if user == "other" else user
    if user != "other" and user not in {u.email for u in provider.users}:
        return _authorize_page(request, auth, 400, "Choose who is signing in.")
    level = request.POST.get("level") or auth.levels_offered[0]
    try:
        location = provider.approve(auth, email, level)
    except ValueError as exc:
        return _authorize_page(request, auth, 400, str(exc))
    return HTTPSeeOther(location=location)


def token(request: Any) -> Response:
    if request.method != "POST":
        return _json({"error": "Use POST"}, 405, Allow="POST")
    try:
        return _json(_provider(request).exchange_code(request.POST))
    except TokenError as exc:
        return _json({"error": str(exc)}, 400)


def userinfo(request: Any) -> Response:
    try:
        return _json(_provider(request).userinfo(request.headers.get("Authorization")))
    except UserinfoError as exc:
        return _json(
            {"error": str(exc)}, 401, **{"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )


def _effect(event: str, action: str) -> str:
    """What the app is configured to do with ``event``, in words."""
    if event in EMAIL_SUBJECT_EVENTS:
        return "about an email address, not a user: no session can be ended"
    return "ends the user's sessions" if action == END_SESSIONS else "recorded only"


def security_events(request: Any) -> Any:
    """Simulate an account event: sign a SET for a test user and push it to the app."""
    provider = _provider(request)
    sender = request.registry[SENDER_KEY]
    actions = get_app_settings(request.registry).security_events
    events = [(name, _effect(name, actions.action_for(uri))) for name, uri in EVENT_TYPES.items()]
    values: dict[str, Any] = {
        "title": "Simulate an account event",
        "events": events,
        "push_url": sender.push_url,
        "chosen_user": None,
        "chosen_event": None,
        "delivery": None,
        "error": None,
    }
    if request.method == "POST":
        user = request.POST.get("user", "")
        event = request.POST.get("event", "")
        values.update(chosen_user=user, chosen_event=event)
        if user not in {u.email for u in provider.users}:
            values["error"] = "Choose the test user the event is about."
        elif event not in EVENT_TYPES:
            values["error"] = "Choose an event."
        if values["error"]:
            return _page(request, "security_events.html", 400, **values)
        values["delivery"] = sender.push(event, user)
    return _page(request, "security_events.html", **values)


def logout(request: Any) -> Any:
    provider = _provider(request)
    params = request.GET if request.method == "GET" else request.POST
    try:
        logout_request = provider.validate_logout_request(params)
    except ErrorPage as exc:
        return _error_page(request, exc)
    if request.method == "GET":
        return _page(request, "logout.html", title="Sign out", logout=logout_request)
    return HTTPSeeOther(location=provider.logout_redirect(logout_request))


def includeme(config: Any) -> None:
    get_or_head = ("GET", "HEAD")
    config.add_view(home, route_name="devidp.home", request_method=get_or_head)
    config.add_view(discovery, route_name="devidp.discovery", request_method=get_or_head)
    config.add_view(jwks, route_name="devidp.jwks", request_method=get_or_head)
    # Its forms carry the app's CSRF token, checked whatever the host app's default.
    forms = {"request_method": ("GET", "POST"), "require_csrf": True}
    config.add_view(authorize, route_name="devidp.authorization", **forms)
    # Called by the app's server with a client assertion, not by a browser: no CSRF token.
    config.add_view(token, route_name="devidp.token", require_csrf=False)
    config.add_view(
        userinfo, route_name="devidp.userinfo", request_method=("GET", "POST"), require_csrf=False
    )
    config.add_view(logout, route_name="devidp.logout", **forms)
    config.add_view(security_events, route_name="devidp.security_events", **forms)
