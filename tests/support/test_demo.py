import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.http import HttpRequest

from review.demo import tenant as demo
from support.models import Category, Team, Ticket

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_the_bank_and_running_it_again_changes_nothing():
    call_command("seed_demo", "--tickets", "25")
    counts = (Team.objects.count(), Category.objects.count(), Ticket.objects.count(),
              get_user_model().objects.count())
    call_command("seed_demo", "--tickets", "25")
    assert (Team.objects.count(), Category.objects.count(), Ticket.objects.count(),
            get_user_model().objects.count()) == counts
    assert counts[:3] == (6, 77, 25)


def test_every_listed_high_stakes_intent_is_flagged(demo_tenant):
    flagged = set(Category.objects.filter(high_stakes=True).values_list("slug", flat=True))
    assert flagged == {demo.category_slug(label) for label in demo.HIGH_STAKES}
    assert len(flagged) == 14


def test_odd_banking77_labels_become_valid_slugs(demo_tenant):
    assert Category.objects.filter(slug="reverted_card_payment").exists()
    assert Category.objects.filter(slug="refund_not_showing_up").exists()


def test_demo_users_have_their_roles(demo_tenant):
    User = get_user_model()
    assert User.objects.get(username="agent1").groups.get().name == "agent"
    assert User.objects.get(username="manager").has_perm("support.view_dashboard")
    assert not User.objects.get(username="agent2").has_perm("support.view_dashboard")
    assert User.objects.get(username="admin").check_password(demo.DEMO_PASSWORD)


def test_demo_email_tickets_carry_message_ids_so_replies_thread():
    call_command("seed_demo", "--tickets", "5")
    ticket = Ticket.objects.first()
    first = ticket.messages.get()
    assert first.message_id.startswith("<demo-") and first.message_id.endswith(">")
    assert ticket.channel == "email"


def test_admin_lists_seeded_teams_categories_and_tickets(client):
    call_command("seed_demo", "--tickets", "3")
    # django-axes refuses a login without a request (it keys attempts by address).
    client.login(request=HttpRequest(), username="admin", password=demo.DEMO_PASSWORD)
    assert b"Fraud &amp; security" in client.get("/admin/support/team/").content
    assert b"lost_or_stolen_card" in client.get("/admin/support/category/?q=lost").content
    page = client.get("/admin/support/ticket/")
    assert page.status_code == 200
    assert Ticket.objects.first().subject[:20].encode() in page.content
