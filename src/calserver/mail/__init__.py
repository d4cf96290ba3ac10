"""Email: an outbox in the database and a worker that sends it over SMTP.

Nothing sends email from a request. Code that causes an email (an iMIP invitation,
RFC 6047; a notification) builds an RFC 5322 message with :class:`email.message.EmailMessage`
and calls :func:`enqueue` with the connection of its own transaction, so the message
exists exactly when the change that caused it committed. ``calserver worker``
(:mod:`calserver.mail.worker`) claims due messages under a lease, sends them with
:mod:`smtplib` (RFC 5321; STARTTLS, RFC 3207; implicit TLS, RFC 8314) and marks each one
sent as soon as the server has accepted it; a failure is retried with back-off.

- :mod:`calserver.mail.outbox`: the queue (enqueue, claim, mark, list) and the retry policy;
- :mod:`calserver.mail.worker`: the SMTP client and the worker loop.
"""

from calserver.mail.outbox import MailError, enqueue

__all__ = ["MailError", "enqueue"]
