"""The manager's release pages over HTTP: prompt versions and their diff, who may see them."""

from __future__ import annotations

import pytest

from triage.models import PromptVersion


@pytest.mark.django_db
def test_it_shows_a_prompt_version_and_diffs_two(client, manager_user):
    client.force_login(manager_user)
    page = client.get("/review/releases/prompts/")
    assert page.status_code == 200
    imported = PromptVersion.objects.get(name="triage")  # the file is the first version
    edited = PromptVersion.objects.create(name="triage", version="triage-edited1", sha256="x" * 64,
                                          text=imported.text.replace("=== user ===", "Be brief.\n=== user ==="),
                                          source="manager")
    shown = client.get("/review/releases/prompts/", {"show": imported.version})
    assert imported.text.splitlines()[0] in shown.content.decode()
    diff = client.get("/review/releases/prompts/", {"old": imported.version, "new": edited.version}).content.decode()
    assert "+Be brief." in diff


@pytest.mark.django_db
def test_an_agent_cannot_open_the_release_pages(client, agent_user):
    client.force_login(agent_user)
    assert client.get("/review/releases/").status_code == 403
    assert client.post("/review/releases/rollback/", {"reason": "x"}).status_code == 403
