"""E-mail over SMTP: Chinese subjects as RFC 2047 encoded words, UTF-8 plain-text bodies."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from engine.config import Settings
from engine.delivery.channels.base import Outcome, Target, excerpt
from engine.delivery.messages import FOOTER, Message


def compose(message: Message, *, sender: str, to: str, wall: float) -> EmailMessage:
    """The e-mail: subject from the title, one line per event; the delivery's id as a header for deduplication."""
    mail = EmailMessage()
    mail["Subject"] = f"[closeloop] {message.title()}"  # a str with non-ASCII becomes RFC 2047 words
    mail["From"] = sender
    mail["To"] = to
    mail["Date"] = formatdate(wall, localtime=False)
    mail["Message-ID"] = make_msgid(idstring=message.message_id, domain="closeloop")
    mail["X-Closeloop-Message-Id"] = message.message_id
    text = "\n".join(message.lines()) + f"\n\n—— {FOOTER}\n"
    mail.set_content(text, charset="utf-8")
    return mail


class Email:
    """Sends through the SMTP server in the settings (none, STARTTLS or implicit TLS)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_security == "tls":
            return smtplib.SMTP_SSL(s.smtp_host or "", s.smtp_port, timeout=s.delivery_timeout_seconds,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.delivery_timeout_seconds)
        if s.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, target: Target, message: Message, *, wall: float) -> Outcome:
        """Send one e-mail; a refused recipient or a dropped connection is a failure to retry."""
        s = self.settings
        mail = compose(message, sender=s.smtp_from, to=target.email or "", wall=wall)
        try:
            with self._connect() as smtp:
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password.get_secret_value() if s.smtp_password else "")
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            return Outcome(False, exc.smtp_code, excerpt(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"))
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome(False, None, excerpt(f"{type(exc).__name__}: {exc}"))
        return Outcome(True, 250)
