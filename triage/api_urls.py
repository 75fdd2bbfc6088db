from django.urls import path

from triage.api import TicketDetailView

urlpatterns = [
    path("v1/tickets/<int:id>", TicketDetailView.as_view(), name="api-ticket-detail"),
]
