"""E-mail: IMAP in (UID + UIDVALIDITY cursor, IDLE), SMTP out, threading by Message-ID,
In-Reply-To and References. See ``docs/connectors/email.md``."""

from allsang.connectors.email.connector import EmailConnector

__all__ = ["EmailConnector"]
