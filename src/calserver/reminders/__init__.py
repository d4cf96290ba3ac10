"""Reminders by e-mail and SMS, and the agenda by e-mail or SMS (issue 16).

- :mod:`~calserver.reminders.timing` (pure): when a reminder fires, the client's
  ``ACTION:EMAIL`` VALARMs (RFC 5545 3.6.6);
- :mod:`~calserver.reminders.smstext` (pure): SMS texts in 3 x 153 GSM-7 characters;
- :mod:`~calserver.reminders.clock`: the one "now" of the worker (tests move it);
- :mod:`~calserver.reminders.store`: reminders per person, defaults, the due-queue;
- :mod:`~calserver.reminders.hooks`: the storage write hook that keeps the queue in
  step with the events;
- :mod:`~calserver.reminders.worker`: delivery by ``calserver worker``;
- :mod:`~calserver.reminders.sms`: the gateway (``[sms] backend``) and verified phones;
- :mod:`~calserver.reminders.agenda_mail`: the daily agenda.
"""
