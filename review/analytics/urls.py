from django.urls import path

from review.analytics.metrics import metrics_view

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
]
