"""The HTTP API for systems that send us tickets. Intake views live in support/intake/; the read
endpoint (GET /api/v1/tickets/{id}) in triage/api.py."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from support.api_csat import TicketRatingView
from support.intake import anymail_inbound  # noqa: F401  (connects anymail's inbound signal)
from support.intake.webhook import TicketCollectionView

urlpatterns = [
    path("v1/tickets", TicketCollectionView.as_view(), name="api-tickets"),
    path("v1/tickets/<int:id>/rating", TicketRatingView.as_view(), name="api-ticket-rating"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its init script from a URL: no inline <script>, so our CSP holds.
    # (No ReDoc page: its template pulls web fonts from a CDN.)
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
