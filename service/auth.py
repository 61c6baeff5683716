"""API keys and their roles: API_KEYS may predict and read; ADMIN_KEYS may also change people
(docs/people.md). A key travels as `Authorization: Bearer KEY` or `X-API-Key: KEY`."""

from __future__ import annotations

import hmac

from flask import Request

from service.config import Config
from service.errors import EnrolmentOff, Forbidden, Unauthorized

PREDICT, ADMIN = "predict", "admin"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def presented_key(request: Request) -> str | None:
    """The key the request carries, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key") or None


def authenticate(request: Request, config: Config) -> str | None:
    """The role of the request's key (PREDICT or ADMIN), or None when no keys are configured;
    Unauthorized when keys are configured and the request has none or a wrong one."""
    if not config.api_keys and not config.admin_keys:
        return None
    key = presented_key(request)
    if key is None:
        raise Unauthorized("this endpoint needs an API key (Authorization: Bearer KEY or X-API-Key)")
    # Compare with every key of both lists, always, in constant time: no early exit that leaks
    # which key is close, or which list it is in.
    admin, predict = _matches(key, config.admin_keys), _matches(key, config.api_keys)
    if admin:
        return ADMIN
    if predict:
        return PREDICT
    raise Unauthorized("the API key is not valid")


def authenticate_predict(request: Request, config: Config) -> None:
    """Predicting is open exactly as before roles existed: without API_KEYS anyone may predict,
    whatever ADMIN_KEYS holds (turning enrolment on changes nothing for predict-only clients)."""
    if config.api_keys:
        authenticate(request, config)


def require_admin(request: Request, config: Config) -> None:
    """Allow a change to people only with an admin key, and only while enrolment is on."""
    role = authenticate(request, config)
    if role == PREDICT:
        raise Forbidden("this operation changes people and needs an admin key (ADMIN_KEYS), not a predict key")
    if not config.enrolment:
        raise EnrolmentOff("enrolment through the API is off on this service (ENROLMENT=off): "
                           "people are added and removed with the trainer's commands")


def _matches(key: str, keys: tuple[str, ...]) -> bool:
    matches = [hmac.compare_digest(key.encode(), known.encode()) for known in keys]
    return any(matches)


def authorize(request: Request, config: Config) -> None:
    """Reads need a valid key when keys are set; changes need an admin key and enrolment on."""
    if request.method in READ_METHODS:
        authenticate(request, config)
    else:
        require_admin(request, config)
