"""Cross-cutting HTTP policy: who may see a page, and what a page may load."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

_CSP_DIRECTIVES = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]
CONTENT_SECURITY_POLICY = "; ".join(_CSP_DIRECTIVES)
# /api/docs/ only: Swagger UI (served from drf-spectacular-sidecar, no CDN) sets inline styles
# from its own script. Inline *styles* only; scripts stay 'self', and the page shows no ticket text.
API_DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    "style-src 'self' 'unsafe-inline'" if directive.startswith("style-src") else directive
    for directive in _CSP_DIRECTIVES
)


class ContentSecurityPolicyMiddleware:
    """A strict CSP on every response: no inline scripts, so hostile HTML in a ticket can't run."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class LoginRequiredMiddleware:
    """Every page needs a session, except login, static files and the intake endpoints.

    The API under /api/ is left to DRF, which answers 401/403 instead of redirecting, and intake
    endpoints authenticate by signature or token in their own views.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated and not request.path.startswith(
            settings.PUBLIC_PATH_PREFIXES
        ):
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)
