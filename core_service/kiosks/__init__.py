"""Kiosks and gates: device enrolment, tokens, heartbeats and the kiosk sales API."""
