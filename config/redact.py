"""One-time links out of every log line.

A one-time link carries its token in the path (an e-mail's /act/…, chat's /chat/link/…), and a
browser repeats it as the Referer; Django names the path when it refuses a request (a 403 for a
missing CSRF cookie, a 404, a 503): whoever reads the logs must not be able to use the link.
"""

import logging
import re

LINK_TOKEN = re.compile(r"(/(?:act|chat/link)/)[^/\s?#&\"]+")


def redact(value):
    return LINK_TOKEN.sub(r"\1…", value) if isinstance(value, str) else value


class RedactLinks(logging.Filter):
    """Every record's message, with the tokens of one-time links replaced by an ellipsis."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
