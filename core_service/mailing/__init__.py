"""Mailing: the outbox that every e-mail goes through, and its delivery over SMTP."""
