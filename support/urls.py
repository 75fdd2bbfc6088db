from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from support import views
from support.metrics import metrics_view

urlpatterns = [
    path("", RedirectView.as_view(url="/review/", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("support.api_urls")),
    path("anymail/", include("anymail.urls")),
    path("review/", include("review.urls")),
]
