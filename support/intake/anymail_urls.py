"""django-anymail's webhook routes, each behind ``webhook_secret_required``: included by
support/urls.py under /anymail/ instead of ``anymail.urls`` (issue 13, point 1)."""

from __future__ import annotations

from anymail import urls as anymail_urls
from django.urls import URLPattern

from support.intake.anymail_inbound import webhook_secret_required

app_name = anymail_urls.app_name
urlpatterns = [
    URLPattern(pattern.pattern, webhook_secret_required(pattern.callback), pattern.default_args, pattern.name)
    for pattern in anymail_urls.urlpatterns
    if isinstance(pattern, URLPattern)
]
