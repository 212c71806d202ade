"""A browser, over real HTTP, that signs in and out through the development identity provider.

It follows no redirect by itself, so each hop is checked: the app sends the browser to the
provider, the provider's form is submitted as a person would (its hidden fields, CSRF token
included), and the provider sends the browser back to the app's callback.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import requests

_FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.DOTALL)
_ACTION = re.compile(r'<form\b[^>]*\baction="([^"]*)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class DevIdpBrowser:
    """One cookie jar on ``site_url`` (the app, which serves the provider under /_devidp/)."""

    def __init__(self, site_url: str) -> None:
        self.site_url = site_url
        self.session = requests.Session()

    def get(self, path_or_url: str) -> requests.Response:
        return self.session.get(self._url(path_or_url), allow_redirects=False, timeout=10)

    def post(self, path_or_url: str, data: dict[str, str]) -> requests.Response:
        return self.session.post(
            self._url(path_or_url), data=data, allow_redirects=False, timeout=10
        )

    def submit(
        self, page: requests.Response, containing: str = "", **fields: str
    ) -> requests.Response:
        """POST the page's first form whose HTML contains ``containing``, with ``fields``."""
        assert page.status_code == 200, page.text
        for form in _FORM.findall(page.text):
            if containing in form:
                action = html.unescape(_ACTION.search(form).group(1))  # type: ignore[union-attr]
                data = {name: html.unescape(value) for name, value in _HIDDEN.findall(form)}
                return self.post(action, {**data, **fields})
        raise AssertionError(f"no form containing {containing!r} on {page.url}")

    def follow(self, response: requests.Response, expect: str) -> requests.Response:
        """Follow one redirect, which must go to ``expect`` (a path of the site, or a URL)."""
        assert response.status_code in (302, 303), (response.status_code, response.text[:500])
        location = response.headers["Location"]
        assert self.path(location).startswith(expect) or location.startswith(expect), location
        return self.get(location)

    def sign_in(
        self, page_path: str, login_path: str, *, user: str = "alice@example.gov", level: str = ""
    ) -> requests.Response:
        """Open ``page_path``, be sent to ``login_path``, sign in at the provider as ``user``;
        returns the app's answer to the callback (a redirect back to the page)."""
        first = self.get(page_path)
        login = self.follow(first, login_path)
        authorize = self.follow(login, "/_devidp/openid_connect/authorize")
        fields = {"user": user, "action": "approve"}
        if level:
            fields["level"] = level
        answer = self.submit(authorize, 'name="user"', **fields)
        assert answer.status_code == 303, answer.text
        return self.get(answer.headers["Location"])

    def sign_out(self, logout_path: str, page: requests.Response) -> requests.Response:
        """Press the page's sign-out button; confirm at the provider; returns the app's
        signed-out page."""
        ended = self.submit(page, f'action="{logout_path}"')
        confirm = self.follow(ended, "/_devidp/openid_connect/logout")
        back = self.submit(confirm, "post_logout_redirect_uri")
        assert back.status_code == 303, back.text
        return self.get(back.headers["Location"])

    def path(self, url: str) -> str:
        """The path (and query) of a URL on the site."""
        if not url.startswith(self.site_url):
            return url
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def close(self) -> None:
        self.session.close()

    def _url(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else self.site_url + path_or_url
