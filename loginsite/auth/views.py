"""Sign in, the callback, sign out: thin views over ``loginsite.oidc`` and the session policy.

Every absolute URL comes from ``loginsite.public_url``, never from request headers. Every
failure is a page that says what happened and what to do next, plus one log line saying why.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.interfaces import ISecurityPolicy
from pyramid.renderers import render_to_response
from pyramid.security import forget, remember

from loginsite.auth.cookies import (
    TRANSACTION_TTL,
    FlowCookie,
    SignOutOutcome,
    SignOutReceipt,
    TransactionCookies,
    signout_keys,
    transaction_keys,
)
from loginsite.auth.forbidden import session_unverifiable
from loginsite.auth.headers import private_answer
from loginsite.auth.outcome_pages import sign_in_not_completed
from loginsite.auth.urls import (
    CALLBACK_ROUTE,
    LEVEL_VERIFIED,
    LOGIN_ROUTE,
    LOGOUT_ROUTE,
    SIGNED_OUT_ROUTE,
    sign_in_path,
)
from loginsite.i18n import _
from loginsite.oidc import (
    AuthorizationDenied,
    OIDCClient,
    OIDCError,
    TransactionJar,
    sanitize_next,
)
from loginsite.oidc.transaction import LoginTransaction
from loginsite.operations import audit
from loginsite.operations.metrics import count_sign_in, count_sign_out
from loginsite.operations.provider_timing import provider_session, provider_timer, timed_client
from loginsite.revocation import (
    RevocationUnavailable,
    get_revocation_store,
    revoke_session,
    revoke_user,
)
from loginsite.session import SessionToken, SessionTooLarge
from loginsite.settings import ACR_VERIFIED, LOCALES, SERVICE_LEVELS, get_app_settings
from loginsite.web.errors import bad_csrf, error_page

log = logging.getLogger(__name__)

FLOW_KEY = "loginsite.sign_in_flow"
_LOG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
LOGOUT_STATE_TTL = 600
#: The provider's ``error=`` codes (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6) kept in the audit
#: trail; any other value is attacker-chosen text, audited as ``other``.
_PROVIDER_ERROR_CODES = frozenset(
    [
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    ]
)
#: Asset specs, so that a host app can replace either page with ``config.override_asset``.
SIGN_OUT_CONFIRM_TEMPLATE = "loginsite:templates/sign_out_confirm.html"
SIGNED_OUT_TEMPLATE = "loginsite:templates/signed_out.html"


class SignInFlow:
    """What the auth views share, built once at start-up."""

    def __init__(self, registry: Any) -> None:
        settings = get_app_settings(registry)
        self.settings = settings
        timer = provider_timer(registry)  # None unless metrics are on
        self.client = timed_client(OIDCClient(settings.idp, http=provider_session(timer)), timer)
        self.jar = TransactionJar(transaction_keys(settings.session), ttl=TRANSACTION_TTL)
        secure = settings.session.secure
        self.transactions = TransactionCookies(self.jar, secure=secure)
        self.logout_cookie = FlowCookie(
            "loginsite_signout", secure=secure, max_age=LOGOUT_STATE_TTL
        )
        self.receipts = SignOutReceipt(signout_keys(settings.session), ttl=LOGOUT_STATE_TTL)
        self.revocations = get_revocation_store(registry)

    def acr_values_for(self, level: str | None) -> tuple[str, ...]:
        """The configured acr_values, with the service level raised for a step-up."""
        configured = self.settings.idp.acr_values
        if level != LEVEL_VERIFIED:
            return configured
        return tuple(ACR_VERIFIED if v in SERVICE_LEVELS else v for v in configured)

    def is_step_up(self, acr_values: tuple[str, ...]) -> bool:
        """Asking for identity verification where the site's sign-in does not."""
        return ACR_VERIFIED in acr_values and ACR_VERIFIED not in self.settings.idp.acr_values


def _flow(request: Any) -> SignInFlow:
    return request.registry[FLOW_KEY]


def _request_id(request: Any) -> str:
    return request.request_id


def _signed_session(request: Any) -> SessionToken | None:
    """The session the cookie names if its signature verifies, live or not (see the policy)."""
    return request.registry.getUtility(ISecurityPolicy).signed_session(request)


def _audit(request: Any, event: str, outcome: str, reason: str, **fields: Any) -> None:
    audit.record(event, outcome, reason, audit.origin_of(request, "auth"), **fields)


def _audit_sign_in_failure(request: Any, event: str, exc: OIDCError) -> None:
    if isinstance(exc, AuthorizationDenied):
        reason = "cancelled" if exc.error == "access_denied" else "provider_error"
        detail = exc.error if exc.error in _PROVIDER_ERROR_CODES else "other"
    else:
        reason, detail = exc.category, audit.code(type(exc).__name__)
    identity = request.identity
    _audit(
        request,
        event,
        audit.FAILURE,
        reason,
        detail=detail,
        sub=None if identity is None else identity.sub,
        sid=None if identity is None else identity.session_id,
    )


def _oidc_error_page(
    request: Any,
    exc: OIDCError,
    event: str,
    audit_event: str,
    transaction: LoginTransaction | None = None,
) -> Any:
    count_sign_in(request, "failure", type(exc).__name__)
    _audit_sign_in_failure(request, audit_event, exc)
    log.warning(
        "%s status=%s category=%s error=%s reason=%s request_id=%s",
        event,
        exc.status,
        exc.category,
        type(exc).__name__,
        exc.reason,
        _request_id(request),
    )
    return sign_in_not_completed(request, exc, transaction)


def login(context: Any, request: Any) -> Any:
    flow = _flow(request)
    next_path = sanitize_next(request.GET.get("next"))
    level = request.GET.get("level")
    identity = request.identity
    if identity is not None and (level != LEVEL_VERIFIED or identity.acr == ACR_VERIFIED):
        return HTTPSeeOther(location=request.absolute_url(next_path))
    # Login.gov speaks the page's language; loginsite.idp.locale is for one it does not speak.
    locale = request.locale_name
    if locale not in LOCALES:
        locale = flow.settings.idp.locale
    acr_values = flow.acr_values_for(level)
    step_up = flow.is_step_up(acr_values)
    try:
        transaction, url = flow.client.begin(
            next_path=next_path, acr_values=acr_values, locale=locale
        )
    except OIDCError as exc:
        audit_event = "auth.step_up_requested" if step_up else "auth.sign_in"
        return _oidc_error_page(request, exc, "auth.login_failed", audit_event)
    if step_up:
        _audit(
            request,
            "auth.step_up_requested",
            audit.SUCCESS,
            "sent_to_provider",
            sub=None if identity is None else identity.sub,
            sid=None if identity is None else identity.session_id,
        )
    response = HTTPSeeOther(location=url)
    flow.transactions.add(request, response, transaction)
    return response


def _repeated_parameters(request: Any) -> list[str]:
    """RFC 6749 3.1: request and response parameters "MUST NOT be included more than once"."""
    names = list(request.GET.keys())
    return sorted({name for name in names if names.count(name) > 1})


def _refuse_repeated(request: Any, flow: SignInFlow, repeated: list[str]) -> Any:
    """Refuse before anything else, and burn every transaction the callback names."""
    taken = [flow.transactions.take(request, state)[2] for state in request.GET.getall("state")]
    count_sign_in(request, "refused", "repeated_parameter")
    _audit(request, "auth.sign_in", audit.FAILURE, "repeated_parameter")
    log.warning(
        "auth.callback_refused reason=repeated_parameter names=%s request_id=%s",
        ",".join(_LOG_UNSAFE.sub("?", name[:32]) for name in repeated[:8]),
        _request_id(request),
    )
    response = error_page(
        request,
        400,
        _("This sign-in address is not valid"),
        _(
            "The address that brought you back from Login.gov repeated a part that may appear "
            "only once, so we did not use it. Please start signing in again."
        ),
        action=(_("Sign in again"), sign_in_path(request)),
    )
    for name in taken:
        flow.transactions.clear(response, name)
    return response


def _identity_too_large(request: Any, exc: SessionTooLarge, event: str) -> Any:
    """The provider's identity cannot fit in a session cookie: refuse here, rather than set a
    cookie the browser would drop or the next request would refuse (a sign-in loop)."""
    _audit(request, event, audit.FAILURE, "identity_too_large")
    log.warning(
        "auth.callback_failed reason=identity too large for a session (%d bytes) request_id=%s",
        exc.size,
        _request_id(request),
    )
    return error_page(
        request,
        502,
        _("Your account details are too long for this site"),
        _(
            "Login.gov signed you in, but the account details it sent (such as your email "
            "address) are too long for this site to keep you signed in, so you are not signed "
            "in. Please contact us."
        ),
        action=(_("Go to the home page"), request.home_path),
    )


def callback(context: Any, request: Any) -> Any:
    flow = _flow(request)
    repeated = _repeated_parameters(request)
    if repeated:
        return _refuse_repeated(request, flow, repeated)
    params = {k: v for k, v in request.GET.items() if isinstance(v, str)}
    transaction, reason, taken = flow.transactions.take(request, params.get("state"))
    step_up = transaction is not None and flow.is_step_up(transaction.acr_values)
    audit_event = "auth.step_up" if step_up else "auth.sign_in"
    if "error" in params:
        # Whatever the state, the provider said no: nothing more to try for this transaction.
        response = _oidc_error_page(
            request,
            AuthorizationDenied(params["error"][:64]),
            "auth.callback_error",
            audit_event,
            transaction,
        )
    elif transaction is None:
        log.warning("auth.callback_refused reason=%s request_id=%s", reason, _request_id(request))
        count_sign_in(request, "refused", reason)
        _audit(request, "auth.sign_in", audit.FAILURE, "state_mismatch", detail=audit.code(reason))
        response = error_page(
            request,
            400,
            _("This sign-in has expired"),
            _(
                "We could not match this sign-in to one started in this browser: it may have "
                "expired, been used already, or been started elsewhere. Please start again."
            ),
            action=(_("Sign in again"), sign_in_path(request)),
        )
    else:
        try:
            signin = flow.client.complete(transaction, params)
        except OIDCError as exc:
            response = _oidc_error_page(
                request, exc, "auth.callback_failed", audit_event, transaction
            )
        else:
            # The new session replaces the one the cookie names (a step-up, a second sign-in),
            # even one that is idle-expired or cannot be checked against the list right now.
            previous = _signed_session(request)
            try:
                headers = remember(request, signin.sub, email=signin.email, acr=signin.acr)
            except SessionTooLarge as exc:
                response = _identity_too_large(request, exc, audit_event)
                flow.transactions.clear(response, taken)  # single use, as below
                return response
            if previous is not None:
                _revoke_replaced(flow, request, previous)
            session = request.identity  # the session remember() just started
            count_sign_in(request, "success")
            _audit(
                request,
                audit_event,
                audit.SUCCESS,
                "ok",
                sub=signin.sub,
                sid=session.session_id if session is not None else None,
                acr=signin.acr,
                replaced_sid=None if previous is None else previous.session_id,
            )
            log.info(
                "auth.signed_in sub=%s acr=%s session_id=%s request_id=%s",
                signin.sub,
                signin.acr,
                session.session_id if session is not None else "-",
                _request_id(request),
            )
            response = HTTPSeeOther(
                location=request.absolute_url(transaction.next_path), headers=headers
            )
    flow.transactions.clear(response, taken)  # single use: cleared on success and failure
    return response


def logout_form(context: Any, request: Any) -> Any:
    """GET never signs anyone out: it shows a button that POSTs with the CSRF token.

    The button is there for a session that cannot be checked right now (the list is stale) too:
    the cookie is kept then, and signing out revokes it all the same.
    """
    signed_in = request.identity is not None or session_unverifiable(request)
    return render_to_response(SIGN_OUT_CONFIRM_TEMPLATE, {"signed_in": signed_in}, request=request)


def _revoke_replaced(flow: SignInFlow, request: Any, previous: SessionToken) -> None:
    try:
        revoke_session(flow.revocations, previous.session_id, expires_at=previous.deadline)
    except RevocationUnavailable as exc:
        # The browser gets the new session all the same; only a copy of the old one outlives it.
        log.warning(
            "auth.replaced_session_not_revoked sub=%s reason=%s request_id=%s",
            previous.sub,
            exc,
            _request_id(request),
        )


def _end_sessions(
    flow: SignInFlow, request: Any, session: SessionToken | None, everywhere: bool
) -> SignOutOutcome:
    """Revoke what the cookie names; the outcome says exactly what was recorded."""
    if session is None:
        return SignOutOutcome.NO_SESSION
    if flow.settings.revocation.store == "none":
        return SignOutOutcome.BROWSER_ONLY
    try:
        revoke_session(flow.revocations, session.session_id, expires_at=session.deadline)
    except RevocationUnavailable as exc:
        log.warning(
            "auth.sign_out_not_recorded sub=%s reason=%s request_id=%s",
            session.sub,
            exc,
            _request_id(request),
        )
        return SignOutOutcome.NOT_RECORDED
    if not everywhere:
        return SignOutOutcome.SESSION
    try:
        revoke_user(flow.revocations, session.sub, max_age=flow.settings.session.max_age)
    except RevocationUnavailable as exc:
        log.warning(
            "auth.sign_out_everywhere_not_recorded sub=%s reason=%s request_id=%s",
            session.sub,
            exc,
            _request_id(request),
        )
        return SignOutOutcome.EVERYWHERE_FAILED
    return SignOutOutcome.EVERYWHERE


def logout(context: Any, request: Any) -> Any:
    """POST (CSRF-checked): end the session here, then at the provider.

    The session the cookie names is revoked whenever its signature verifies, even when the
    request is anonymous because the session is idle-expired or the revocation list cannot be
    checked: a stale tab's "Sign out everywhere" and a sign-out during an outage are not lost.
    """
    flow = _flow(request)
    everywhere = request.POST.get("everywhere") == "1"
    session = _signed_session(request)
    outcome = _end_sessions(flow, request, session, everywhere)
    count_sign_out(request, everywhere, outcome.name.lower())
    failed = outcome in (SignOutOutcome.NOT_RECORDED, SignOutOutcome.EVERYWHERE_FAILED)
    _audit(
        request,
        "auth.sign_out_everywhere" if everywhere else "auth.sign_out",
        audit.FAILURE if failed else audit.SUCCESS,
        outcome.name.lower(),
        sub=None if session is None else session.sub,
        sid=None if session is None else session.session_id,
    )
    log.info(
        "auth.signed_out sub=%s everywhere=%s outcome=%s session_id=%s request_id=%s",
        "-" if session is None else session.sub,
        everywhere,
        outcome.name.lower(),
        "-" if session is None else session.session_id,
        _request_id(request),
    )
    headers = forget(request)
    state = secrets.token_urlsafe(32)
    try:
        location = flow.client.logout_url(state)
    except OIDCError as exc:
        # Signed out here all the same; the provider's own session ends on its own timer.
        log.warning("auth.provider_logout_unavailable reason=%s", exc.reason)
        signed_out_path = request.route_path(SIGNED_OUT_ROUTE, _query={"state": state})
        location = request.absolute_url(signed_out_path)
    response = HTTPSeeOther(location=location, headers=headers)
    flow.logout_cookie.set(response, flow.receipts.seal(state, outcome))
    return response


def signed_out(context: Any, request: Any) -> Any:
    """Say what this sign-out did: only what its receipt records, for the state it was given.

    Opened directly, with a leftover or edited receipt, or with another sign-out's state, the
    page claims no sign-out at all.
    """
    flow = _flow(request)
    outcome = flow.receipts.open(flow.logout_cookie.read(request), request.GET.get("state"))
    if outcome is None and "state" in request.GET:
        log.info("auth.signed_out_state_mismatch request_id=%s", _request_id(request))
    response = render_to_response(
        SIGNED_OUT_TEMPLATE,
        {"outcome": outcome, "outcomes": SignOutOutcome, "signed_in": request.identity is not None},
        request=request,
    )
    flow.logout_cookie.delete(response)
    return response


def includeme(config: Any) -> None:
    config.registry[FLOW_KEY] = SignInFlow(config.registry)
    private = {"decorator": private_answer}
    config.add_view(login, route_name=LOGIN_ROUTE, request_method="GET", **private)
    config.add_view(callback, route_name=CALLBACK_ROUTE, request_method="GET", **private)
    config.add_view(logout_form, route_name=LOGOUT_ROUTE, request_method="GET", **private)
    # CSRF-checked whatever the host app's default (loginsite's own checks every POST), and a
    # refused form gets loginsite's page there too.
    config.add_view(
        logout, route_name=LOGOUT_ROUTE, request_method="POST", require_csrf=True, **private
    )
    for refusal in (BadCSRFToken, BadCSRFOrigin):
        config.add_exception_view(bad_csrf, context=refusal, route_name=LOGOUT_ROUTE, **private)
    config.add_view(signed_out, route_name=SIGNED_OUT_ROUTE, request_method="GET", **private)
