import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/review/", "/admin/", "/"])
def test_anonymous_pages_redirect_to_login(client, path):
    response = client.get(path, follow=True)
    assert response.redirect_chain, f"{path} answered without redirecting"
    final_url = response.redirect_chain[-1][0]
    assert final_url.startswith("/accounts/login/")


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_anonymous_api_calls_are_refused(client, path):
    response = client.get(path)
    assert response.status_code in {401, 403}


def test_login_page_is_public(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Log in to Switchboard" in response.content


def test_an_agent_logs_in_and_reaches_the_queue(client, agent_user):
    response = client.post("/accounts/login/", {"username": "agent-test", "password": "pw-for-tests-only"})
    assert response.status_code == 302
    assert client.get("/review/").status_code == 200


def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get("/accounts/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_healthz_answers_without_a_session(client):
    assert client.get("/healthz").json() == {"status": "ok"}
