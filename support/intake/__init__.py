"""Ticket intake: the signed webhook API and every e-mail route (provider webhooks, files, IMAP).

Everything ends in ``support.services.ticket_create`` (webhook) or
``support.intake.email_ingest.email_ingest`` (one e-mail pipeline for every route).
"""
