from django.urls import path

from review import views, views_releases
from review.views import bulk, workspace

app_name = "review"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("next/", views.next_ticket, name="next"),
    path("bulk/", bulk.bulk, name="bulk"),
    path("t/<int:ticket_id>/macros/", bulk.macros, name="macros"),
    path("t/<int:ticket_id>/", views.ticket, name="ticket"),
    path("t/<int:ticket_id>/claim/", views.claim, name="claim"),
    path("t/<int:ticket_id>/heartbeat/", views.heartbeat, name="heartbeat"),
    path("t/<int:ticket_id>/release/", views.release, name="release"),
    path("t/<int:ticket_id>/approve/", views.approve, name="approve"),
    path("t/<int:ticket_id>/reject/", views.reject, name="reject"),
    path("t/<int:ticket_id>/override/", views.override, name="override"),
    path("t/<int:ticket_id>/escalate/", views.escalate, name="escalate"),
    path("t/<int:ticket_id>/snooze/", views.snooze, name="snooze"),
    path(
        "t/<int:ticket_id>/outbound/<int:outbound_id>/retry/",
        views.delivery_retry,
        name="delivery_retry",
    ),
    path("t/<int:ticket_id>/note/", workspace.note, name="note"),
    path("t/<int:ticket_id>/status/", workspace.status, name="status"),
    path("t/<int:ticket_id>/reopen/", workspace.reopen, name="reopen"),
    path("t/<int:ticket_id>/regenerate/", workspace.regenerate, name="regenerate"),
    path(
        "t/<int:ticket_id>/attachments/<int:attachment_id>/",
        workspace.attachment,
        name="attachment",
    ),
    path("mentions/", workspace.mentions, name="mentions"),
    path("mentions/read/", workspace.mentions_read, name="mentions_read"),
    path("audit/", views.audit, name="audit"),
    path("audit/<int:sample_id>/grade/", views.audit_grade, name="audit_grade"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/<slug:table>.csv", views.dashboard_csv, name="dashboard_csv"),
    path("automation/", views.automation, name="automation"),
    path("automation/<int:category_id>/resume/", views.automation_resume, name="automation_resume"),
    path("releases/", views_releases.releases, name="releases"),
    path("releases/prompts/", views_releases.release_prompts, name="release_prompts"),
    path("releases/runs/<int:run_id>/", views_releases.release_run, name="release_run"),
    path("releases/rollback/", views_releases.release_rollback, name="release_rollback"),
    path("releases/<slug:name>/promote/", views_releases.release_promote, name="release_promote"),
]
