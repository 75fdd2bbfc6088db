"""``POST /api/v1/tickets`` (signed webhooks or API token) and ``GET /api/v1/tickets/<id>``.

The POST view reads the body itself, in this order, so nothing expensive happens for a request
we will refuse: size (413, from Content-Length and a capped read; a chunked body is read to its
end) → media type (415 unless application/json) → authenticity (401) → per-source rate limit
(429) → webhook-id replay (200) → JSON (400, duplicate keys included) and fields (400: callback
URLs http(s) only) → create (202/200).
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from support.api_auth import ApiTokenAuthentication
from support.intake import schema  # noqa: F401  (registers the token auth scheme)
from support.intake.services import (
    rate_limit_retry_after,
    webhook_delivery_find,
    webhook_ticket_accept,
)
from support.intake.signatures import SignatureError, signature_verify
from support.models import ApiToken, WebhookSource
from support.models.intake import RESERVED_SOURCE_NAMES

MAX_JSON_DEPTH = 32

# --- serializers ------------------------------------------------------------------------------


def _no_surrogates(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise serializers.ValidationError("Contains characters that are not valid Unicode.") from None


class _Text(serializers.CharField):
    """A CharField that also refuses lone surrogates (PostgreSQL can't store them)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(_no_surrogates)


class CustomerInSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = _Text(max_length=200, required=False, allow_blank=True, default="")


class TicketInSerializer(serializers.Serializer):
    external_id = _Text(max_length=255, help_text="Your id for this ticket; a retry with the same id is harmless.")
    subject = _Text(max_length=500)
    body = _Text(max_length=500_000, trim_whitespace=False)
    customer = CustomerInSerializer()
    callback_url = serializers.URLField(max_length=2000, required=False, allow_blank=True, default="",
                                        help_text="Where our reply is POSTed (signed), instead of e-mail; "
                                                  "http or https only.")
    metadata = serializers.DictField(required=False, default=dict, help_text="Any JSON object, kept as is.")

    def validate_body(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate_callback_url(self, value: str) -> str:
        # URLField also takes ftp:// (Django's URLValidator): it would only fail at delivery.
        if value and urlsplit(value).scheme.lower() not in {"http", "https"}:
            raise serializers.ValidationError("Only http and https callback URLs are accepted.")
        return value

    def validate_metadata(self, value: dict[str, Any]) -> dict[str, Any]:
        problem = _json_problem(value, depth=0)
        if problem:
            raise serializers.ValidationError(problem)
        return value


def _json_problem(value: Any, *, depth: int) -> str:
    if depth > MAX_JSON_DEPTH:
        return f"Nested deeper than {MAX_JSON_DEPTH} levels."
    if isinstance(value, str):
        if "\x00" in value:
            return "Contains a NUL character."
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "Contains characters that are not valid Unicode."
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = _json_problem(key, depth=depth + 1) or _json_problem(item, depth=depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = _json_problem(item, depth=depth + 1)
            if problem:
                return problem
    return ""


class TicketAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    # The JSON key is "errors"; DRF's metaclass moves declared fields off the class, so the
    # Serializer.errors property is untouched at runtime.
    errors = serializers.DictField(  # type: ignore[assignment]  # a response key shadowing Serializer.errors in the stubs
        required=False, help_text="Field name → list of problems (400 only).")


# --- views ------------------------------------------------------------------------------------


def _error(status_code: int, detail: str, *, errors: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"detail": detail}
    if errors is not None:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers)


class BodyTooLarge(Exception):
    pass


def body_read_capped(request: HttpRequest, *, limit: int) -> bytes:
    """Read at most ``limit`` bytes of the body; ``BodyTooLarge`` beyond, without reading it all.

    A chunked body has no Content-Length, and Django then reads it as empty (so its signature
    failed). When the server says its input stream ends where the body does (gunicorn's
    ``wsgi.input_terminated``, PEP 3333's proposal, after de-chunking), we read that stream.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge
    if hasattr(request, "_body"):  # something upstream already read it
        body = request.body
    elif not request.META.get("CONTENT_LENGTH") and request.META.get("wsgi.input_terminated"):
        body = _stream_read(request.META["wsgi.input"], limit=limit + 1)
    else:
        body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge
    return body


def _stream_read(stream: Any, *, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = stream.read(min(64 * 1024, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class DuplicateKey(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(f"duplicate key {key[:80]!r} in a JSON object")
        seen[key] = value
    return seen


def json_content_type(request: HttpRequest) -> bool:
    """Is the body declared as JSON (``application/json``, any parameters)?"""
    return (request.content_type or "").strip().lower() == "application/json"


def _json_load(body: bytes) -> Any:
    def finite(text: str) -> float:
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"number out of range: {text[:40]}")
        return number

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    return json.loads(body.decode("utf-8"), parse_float=finite, parse_constant=refuse_constant,
                      object_pairs_hook=_refuse_duplicate_keys)


_WEBHOOK_HEADERS = [
    OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False, description=description)
    for name, description in [
        ("webhook-id", "Standard Webhooks message id; a replay with the same id returns the same ticket."),
        ("webhook-timestamp", "Unix seconds; must be within 5 minutes of our clock."),
        ("webhook-signature", "`v1,<base64 HMAC-SHA256>` (several space-separated during a rotation)."),
    ]
]
_ERROR = OpenApiResponse(ErrorSerializer)


class TicketCollectionView(APIView):
    """Create a ticket from another system."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [AllowAny]  # authenticity is checked in post(): a signature or a token
    parser_classes = [JSONParser]  # the body is read in post(); this tells the schema it is JSON only

    @extend_schema(
        operation_id="tickets_create",
        summary="Create a ticket (Standard Webhooks signature or API token)",
        request=TicketInSerializer,
        parameters=_WEBHOOK_HEADERS,
        responses={
            202: OpenApiResponse(TicketAcceptedSerializer, description="A new ticket was created."),
            200: OpenApiResponse(TicketAcceptedSerializer, description="Replay: the ticket already exists."),
            400: OpenApiResponse(ErrorSerializer, description="Invalid JSON or fields; every field error named."),
            401: OpenApiResponse(ErrorSerializer, description="Missing or bad signature, stale timestamp, bad token."),
            413: OpenApiResponse(ErrorSerializer, description="Body over WEBHOOK_MAX_BODY_BYTES."),
            415: OpenApiResponse(ErrorSerializer, description="Content-Type is not application/json."),
            429: OpenApiResponse(ErrorSerializer, description="Per-source rate limit; see Retry-After."),
        },
    )
    def post(self, request: Request) -> Response:
        max_bytes = settings.WEBHOOK_MAX_BODY_BYTES
        try:
            body = body_read_capped(request._request, limit=max_bytes)
        except BodyTooLarge:
            return _error(413, f"Body larger than {max_bytes} bytes.")
        if not json_content_type(request._request):
            return _error(415, "Content-Type must be application/json.")

        limit: int | None
        if isinstance(request.auth, ApiToken):
            source = request.auth.source  # the token's binding, never a name the body could choose
            if not source or source in RESERVED_SOURCE_NAMES:
                return _error(403, "This token is not bound to a ticket source; issue a new one.")
            limit = WebhookSource.objects.filter(name=source).values_list("rate_limit_per_minute", flat=True).first()
        else:
            try:
                verified = signature_verify(body=body, headers=request.headers)
            except SignatureError as exc:
                return _error(401, f"Signature check failed: {exc}.",
                              headers={"WWW-Authenticate": 'Token realm="switchboard"'})
            source, limit = verified.name, verified.rate_limit_per_minute

        retry_after = rate_limit_retry_after(source=source, limit=limit)
        if retry_after is not None:
            return _error(429, f"Rate limit for source {source!r} exceeded.",
                          headers={"Retry-After": str(retry_after)})

        webhook_id = request.headers.get("webhook-id", "").strip()
        if len(webhook_id) > 255:
            return _error(400, "Invalid headers.", errors={"webhook-id": ["Longer than 255 characters."]})
        replayed = webhook_delivery_find(source=source, webhook_id=webhook_id)
        if replayed is not None:
            return Response({"id": replayed.pk, "status": replayed.status}, status=status.HTTP_200_OK)

        try:
            payload = _json_load(body)
        except DuplicateKey as exc:
            return _error(400, "Body has a duplicate key: each key may appear once per object.",
                          errors={"body": [str(exc)]})
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            return _error(400, "Body is not valid JSON.", errors={"body": [str(exc)[:200]]})
        serializer = TicketInSerializer(data=payload)
        if not serializer.is_valid():
            return _error(400, "Invalid fields.", errors=serializer.errors)

        ticket, created = webhook_ticket_accept(source=source, webhook_id=webhook_id, data=serializer.validated_data)
        return Response({"id": ticket.pk, "status": ticket.status},
                        status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
