"""The read side of the ticket API for source systems: a ticket with its classification and the
AI's latest decision (``GET /api/v1/tickets/{id}``). It lives here, not in ``support.intake``,
because it reports triage's decision log, and the ticket layer never imports the AI layer."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from support.api_auth import ApiTokenAuthentication, api_tickets_for
from support.intake.webhook import ErrorSerializer
from support.models import Message, Ticket
from triage.models import TriageDecision

_ERROR = OpenApiResponse(ErrorSerializer)


class CustomerOutSerializer(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField()


class MessageOutSerializer(serializers.Serializer):
    direction = serializers.CharField()
    author_email = serializers.CharField()
    body = serializers.CharField(source="body_text")
    is_automated = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class ClassificationSerializer(serializers.Serializer):
    category = serializers.CharField(allow_null=True)
    team = serializers.CharField(allow_null=True)
    priority = serializers.CharField()
    language = serializers.CharField()


class DecisionOutSerializer(serializers.Serializer):
    provider = serializers.CharField()
    model = serializers.CharField()
    category = serializers.CharField(source="category_slug")
    priority = serializers.CharField()
    language = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    needs_review = serializers.BooleanField()
    review_reasons = serializers.ListField(child=serializers.CharField())
    is_final = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class TicketOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # a response key, not Field.source
    external_id = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.CharField()
    customer = CustomerOutSerializer()
    messages = MessageOutSerializer(many=True)
    classification = serializers.SerializerMethodField()
    latest_decision = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(ClassificationSerializer)
    def get_classification(self, ticket: Ticket) -> dict[str, Any]:
        return {
            "category": ticket.category.slug if ticket.category else None,
            "team": ticket.team.slug if ticket.team else None,
            "priority": ticket.priority,
            "language": ticket.language,
        }

    @extend_schema_field(DecisionOutSerializer(allow_null=True))
    def get_latest_decision(self, ticket: Ticket) -> dict[str, Any] | None:
        decisions = list(ticket.triage_decisions.all())
        if not decisions:
            return None
        finals = [decision for decision in decisions if decision.is_final]
        return dict(DecisionOutSerializer((finals or decisions)[-1]).data)


def ticket_for_source_system(*, request: Request, ticket_id: int) -> Ticket:
    """Selector: one ticket the caller may read (``api_tickets_for``: a token its own source's, an
    agent their teams'), with everything the detail endpoint shows, in a fixed number of queries."""
    queryset = api_tickets_for(request).select_related("customer", "category", "team").prefetch_related(
        Prefetch("messages", queryset=Message.objects.order_by("created_at", "id")),
        Prefetch("triage_decisions", queryset=TriageDecision.objects.order_by("created_at", "id")),
    )
    return get_object_or_404(queryset, pk=ticket_id)


class TicketDetailView(APIView):
    """A ticket as the source system sees it."""

    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="tickets_retrieve",
        summary="Read a ticket: subject, customer, messages, status, classification, latest decision",
        responses={200: TicketOutSerializer, 401: _ERROR, 403: _ERROR, 404: _ERROR},
    )
    def get(self, request: Request, id: int) -> Response:  # noqa: A002 (the URL names it id)
        if id > 2**63 - 1:  # beyond a bigint: PostgreSQL would refuse the query itself
            raise Http404
        ticket = ticket_for_source_system(request=request, ticket_id=id)
        return Response(TicketOutSerializer(ticket).data)
