"""Optional API keys (API_KEYS): `Authorization: Bearer KEY` or `X-API-Key: KEY`."""

from __future__ import annotations

import hmac

from flask import Request

from service.errors import Unauthorized


def presented_key(request: Request) -> str | None:
    """The key the request carries, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key") or None


def check_api_key(request: Request, keys: tuple[str, ...]) -> None:
    """Raise Unauthorized unless keys are off or the request carries one of them."""
    if not keys:
        return
    key = presented_key(request)
    if key is None:
        raise Unauthorized("this endpoint needs an API key (Authorization: Bearer KEY or X-API-Key)")
    # Compare with every key, always, in constant time: no early exit that leaks which one is close.
    matches = [hmac.compare_digest(key.encode(), known.encode()) for known in keys]
    if not any(matches):
        raise Unauthorized("the API key is not valid")
