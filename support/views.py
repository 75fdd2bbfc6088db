"""Pages outside the review app: liveness, and the customer's rating page (support/csat.py)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from support.csat import COMMENT_MAX_CHARS, RatingRefused, csat_record, rating_token_read
from support.models import CsatRating


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness plus a database round trip, for load balancers and docker-compose."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_http_methods(["GET", "POST"])
def csat_rate(request: HttpRequest, token: str, rating: str) -> HttpResponse:
    """GET: the one click from the e-mail records the rating. POST: the optional comment."""
    try:
        outbound = rating_token_read(token)
        comment = None
        if request.method == "POST":
            comment = request.POST.get("comment", "")[:COMMENT_MAX_CHARS]
        saved = csat_record(outbound=outbound, rating=rating, comment=comment, source=CsatRating.Source.EMAIL_LINK)
    except RatingRefused as exc:
        return render(request, "support/rate.html", {"error": str(exc)}, status=400)
    return render(
        request,
        "support/rate.html",
        {"saved": saved, "good": saved.rating == CsatRating.Rating.GOOD, "commented": request.method == "POST",
         "comment_max": COMMENT_MAX_CHARS},
    )
