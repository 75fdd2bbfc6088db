"""The project's URLs. Every app's routes are included by module path (a string), so this file,
which lives in the lowest layer, imports no higher one (docs/architecture.md)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from support import views

urlpatterns = [
    path("", RedirectView.as_view(url="/review/", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("rate/<str:token>/<str:rating>/", views.csat_rate, name="csat-rate"),
    path("", include("review.analytics.urls")),  # /metrics
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("support.api_urls")),
    path("api/", include("triage.api_urls")),
    path("anymail/", include("support.intake.anymail_urls")),  # every route refused without its secret
    path("review/", include("review.urls")),
]
