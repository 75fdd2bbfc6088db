from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from review import selectors


@permission_required("support.review_ticket", raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    tickets = selectors.review_queue_for(agent=request.user)
    return render(request, "review/queue.html", {"tickets": tickets})
