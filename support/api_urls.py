"""The HTTP API for systems that send us tickets. Intake views live in support/intake/; the read
endpoint (GET /api/v1/tickets/{id}) in triage/api.py."""

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response

from support.api_csat import TicketRatingView
from support.intake import anymail_inbound  # noqa: F401  (connects anymail's inbound signal)
from support.intake.webhook import TicketCollectionView
from support.middleware import API_DOCS_CONTENT_SECURITY_POLICY


class SwaggerUIView(SpectacularSwaggerSplitView):
    """Swagger UI under its own, slightly wider CSP (see API_DOCS_CONTENT_SECURITY_POLICY)."""

    @extend_schema(exclude=True)  # as the parent's get: a page, not an API operation
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = API_DOCS_CONTENT_SECURITY_POLICY
        return response


urlpatterns = [
    path("v1/tickets", TicketCollectionView.as_view(), name="api-tickets"),
    path("v1/tickets/<int:id>/rating", TicketRatingView.as_view(), name="api-ticket-rating"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its init script from a URL: no inline <script>, so our CSP holds.
    # (No ReDoc page: its template pulls web fonts from a CDN.)
    path("docs/", SwaggerUIView.as_view(url_name="api-schema"), name="api-docs"),
]
