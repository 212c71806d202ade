"""``request.absolute_url(path)``: every absolute URL the app sends, from ``loginsite.public_url``.

Never from ``Host`` or ``X-Forwarded-*``, which a client or a misconfigured proxy controls.
"""

from __future__ import annotations

from typing import Any

from loginsite.settings import get_app_settings


def includeme(config: Any) -> None:
    public_url = get_app_settings(config.registry).public_url
    config.add_request_method(lambda request, path: public_url + path, "absolute_url")
