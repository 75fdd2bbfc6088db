"""The demo tenant: Northwind Bank, a fictional bank built on the BANKING77 intents.

BANKING77 (Casanueva et al., 2020, PolyAI), CC BY 4.0: 13,083 online-banking queries in 77
intents; Switchboard uses the 10,003-query training split for the demo tickets and model.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from review import checks
from triage.classifier.data import label_slug

# The demo's BANKING77 labels become category slugs by the classifier's own rule.
category_slug = label_slug

# The demo credentials live with the deploy check that refuses them in production.
DEMO_PASSWORD = checks.DEMO_PASSWORD
DEMO_TICKET_COUNT = 300
def dataset_dir() -> Path:
    return Path(settings.BANKING77_DIR)


@dataclass(frozen=True)
class DemoTeam:
    slug: str
    name: str
    categories: tuple[str, ...]


TEAMS: tuple[DemoTeam, ...] = (
    DemoTeam("cards", "Cards", (
        "card_arrival", "card_linking", "card_delivery_estimate", "card_not_working",
        "contactless_not_working", "supported_cards_and_currencies", "getting_virtual_card",
        "card_acceptance", "get_physical_card", "visa_or_mastercard", "disposable_card_limits",
        "getting_spare_card", "order_physical_card", "virtual_card_not_working",
        "get_disposable_virtual_card", "activate_my_card", "card_about_to_expire",
        "apple_pay_or_google_pay", "pin_blocked", "change_pin", "passcode_forgotten", "card_swallowed",
    )),
    DemoTeam("payments", "Payments & transfers", (
        "exchange_rate", "card_payment_wrong_exchange_rate", "extra_charge_on_statement",
        "card_payment_fee_charged", "pending_card_payment", "declined_card_payment",
        "reverted_card_payment?", "exchange_via_app", "exchange_charge", "fiat_currency_support",
        "cancel_transfer", "transfer_not_received_by_recipient", "declined_transfer", "pending_transfer",
        "transfer_timing", "beneficiary_not_allowed", "transfer_fee_charged", "receiving_money",
        "failed_transfer", "transfer_into_account", "balance_not_updated_after_bank_transfer",
        "request_refund", "Refund_not_showing_up", "transaction_charged_twice",
    )),
    DemoTeam("topups", "Top-ups", (
        "automatic_top_up", "top_up_by_bank_transfer_charge", "pending_top_up", "top_up_limits",
        "top_up_reverted", "topping_up_by_card", "verify_top_up", "top_up_by_cash_or_cheque",
        "top_up_failed", "top_up_by_card_charge", "balance_not_updated_after_cheque_or_cash_deposit",
    )),
    DemoTeam("cash", "Cash & ATM", (
        "pending_cash_withdrawal", "wrong_amount_of_cash_received", "atm_support",
        "declined_cash_withdrawal", "wrong_exchange_rate_for_cash_withdrawal", "cash_withdrawal_charge",
    )),
    DemoTeam("fraud", "Fraud & security", (
        "lost_or_stolen_card", "card_payment_not_recognised", "compromised_card",
        "direct_debit_payment_not_recognised", "lost_or_stolen_phone", "cash_withdrawal_not_recognised",
    )),
    DemoTeam("accounts", "Accounts & verification", (
        "age_limit", "edit_personal_details", "why_verify_identity", "unable_to_verify_identity",
        "terminate_account", "verify_source_of_funds", "verify_my_identity", "country_support",
    )),
)

HIGH_STAKES = frozenset({
    "card_payment_not_recognised", "cash_withdrawal_not_recognised",
    "direct_debit_payment_not_recognised", "compromised_card", "lost_or_stolen_card",
    "lost_or_stolen_phone", "card_swallowed", "transaction_charged_twice",
    "wrong_amount_of_cash_received", "transfer_not_received_by_recipient", "request_refund",
    "terminate_account", "verify_source_of_funds", "unable_to_verify_identity",
})

USERS: tuple[tuple[str, str], ...] = tuple(
    zip(checks.DEMO_USERNAMES, ("agent", "agent", "manager", "admin"), strict=True)
)

FIRST_NAMES = ("Ada", "Bilal", "Chen", "Dana", "Emeka", "Fatima", "Gustav", "Hana", "Ivan", "Jun",
               "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sami", "Tomas")
LAST_NAMES = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Kowalski",
              "Byrne", "Costa", "Nguyen", "Schmidt", "Rossi", "Iyer", "Jensen")


def labels() -> list[str]:
    return list(json.loads((dataset_dir() / "categories.json").read_text()))


def team_for_label() -> dict[str, str]:
    return {label: team.slug for team in TEAMS for label in team.categories}


def demo_rows(count: int = DEMO_TICKET_COUNT) -> list[tuple[str, str]]:
    """A deterministic, evenly spread sample of (text, label) rows from train.csv."""
    if count <= 0:
        return []
    with (dataset_dir() / "train.csv").open(newline="", encoding="utf-8") as handle:
        rows = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    step = max(1, len(rows) // count)
    return rows[::step][:count]
