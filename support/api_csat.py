"""``POST /api/v1/tickets/{id}/rating``: a source system passes on its customer's rating of the
latest reply we sent for the ticket (the same record as the e-mail link, support/csat.py)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from support.api_auth import ApiTokenAuthentication, api_tickets_for
from support.csat import COMMENT_MAX_CHARS, RatingRefused, csat_record
from support.intake.webhook import ErrorSerializer
from support.models import CsatRating, OutboundMessage


class RatingInSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=CsatRating.Rating.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=COMMENT_MAX_CHARS)


class RatingOutSerializer(serializers.Serializer):
    ticket_id = serializers.IntegerField()
    reply_id = serializers.IntegerField(source="outbound_id")
    rating = serializers.CharField()
    comment = serializers.CharField()


class TicketRatingView(APIView):
    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="tickets_rating_create",
        summary="Rate the latest reply of a ticket (good / bad, optional comment)",
        request=RatingInSerializer,
        responses={
            200: RatingOutSerializer,
            400: OpenApiResponse(ErrorSerializer),
            404: OpenApiResponse(ErrorSerializer),
            409: OpenApiResponse(ErrorSerializer),
        },
    )
    def post(self, request: Request, id: int) -> Response:  # noqa: A002 (the URL names it id)
        if id > 2**63 - 1:
            raise Http404
        serializer = RatingInSerializer(data=request.data)
        if not serializer.is_valid():
            return Response({"detail": "Invalid fields.", "errors": serializer.errors}, status=400)
        # A token rates only its own source's tickets; another's is a 404, as if it did not exist.
        ticket = api_tickets_for(request).filter(pk=id).first()
        if ticket is None:
            raise Http404
        reply = (
            OutboundMessage.objects.filter(ticket=ticket, status=OutboundMessage.Status.SENT)
            .exclude(kind=OutboundMessage.Kind.NOTIFICATION)
            .order_by("-sent_at", "-pk")
            .first()
        )
        if reply is None:
            return Response({"detail": "This ticket has no reply to rate yet."}, status=409)
        try:
            saved = csat_record(
                outbound=reply,
                rating=serializer.validated_data["rating"],
                comment=serializer.validated_data.get("comment"),
                source=CsatRating.Source.API,
            )
        except RatingRefused as exc:
            return Response({"detail": str(exc)}, status=400)
        return Response(RatingOutSerializer(saved).data)
