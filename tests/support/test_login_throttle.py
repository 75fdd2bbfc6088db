"""Point 7 of issue 13: repeated wrong passwords lock the login (django-axes), with an admin unlock."""

import pytest
from axes.models import AccessAttempt
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-only"
ATTACKER_IP = "203.0.113.7"


def _login(client: Client, username: str, password: str, ip: str = ATTACKER_IP):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_thirty_wrong_passwords_then_the_right_one_does_not_log_in(client, agent_user):
    # Given an attacker who guessed 30 times from one address (the reproduction)
    for _ in range(30):
        _login(client, "agent-test", "wrong-guess")
    # When the right password finally comes
    response = _login(client, "agent-test", PASSWORD)
    # Then the session stays anonymous and the page says why, not a 500
    assert response.status_code == 429
    assert b"Too many failed log-ins" in response.content and b"Try again in 30 minutes" in response.content
    assert "_auth_user_id" not in client.session
    assert client.get("/review/").status_code == 302


def test_the_lock_starts_at_the_configured_limit(client, agent_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    assert [_login(client, "agent-test", "wrong").status_code for _ in range(3)] == [200, 200, 429]


def test_the_same_user_from_another_address_is_not_locked_out(client, agent_user):
    # The default rule is username+ip_address: a stranger cannot lock an agent out of their own desk.
    for _ in range(30):
        _login(client, "agent-test", "wrong-guess")
    response = _login(Client(), "agent-test", PASSWORD, ip="198.51.100.20")
    assert response.status_code == 302


def test_another_user_from_the_attacking_address_is_not_locked_out(client, agent_user, make_user):
    make_user("colleague")
    for _ in range(30):
        _login(client, "agent-test", "wrong-guess")
    assert _login(Client(), "colleague", PASSWORD).status_code == 302


def test_an_ip_rule_locks_every_username_from_that_address(client, agent_user, make_user, settings):
    settings.AXES_LOCKOUT_PARAMETERS = ["ip_address"]
    make_user("colleague")
    for _ in range(30):
        _login(client, f"spray-{_}", "wrong-guess")
    assert _login(Client(), "colleague", PASSWORD).status_code == 429


def test_an_admin_unlocks_a_locked_account(client, agent_user, make_user):
    # Given a locked account
    for _ in range(30):
        _login(client, "agent-test", "wrong-guess")
    assert _login(client, "agent-test", PASSWORD).status_code == 429
    # When an admin deletes its access attempts in the admin (the unlock axes provides)
    admin_client = Client()
    admin_client.force_login(make_user("ops", "admin"))
    attempt_ids = list(AccessAttempt.objects.values_list("pk", flat=True))
    assert attempt_ids
    admin_client.post("/admin/axes/accessattempt/",
                      {"action": "delete_selected", "_selected_action": attempt_ids, "post": "yes"})
    # Then the agent logs in again with the right password
    assert not AccessAttempt.objects.exists()
    assert _login(client, "agent-test", PASSWORD).status_code == 302


def test_a_correct_login_is_unaffected_by_a_few_typos(client, agent_user):
    for _ in range(2):
        _login(client, "agent-test", "typo")
    assert _login(client, "agent-test", PASSWORD).status_code == 302
