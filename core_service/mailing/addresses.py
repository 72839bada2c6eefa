"""What kippu accepts as an e-mail address, wherever a visitor or staff member types one."""

from __future__ import annotations

import re

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: The longest address SMTP can carry (RFC 5321 path limit).
MAX_EMAIL_LENGTH = 254


def is_email_address(text: str) -> bool:
    return bool(EMAIL_PATTERN.match(text)) and len(text) <= MAX_EMAIL_LENGTH
