"""Switchboard project configuration and the ticket domain."""

from support.celery import app as celery_app

__all__ = ("celery_app",)
