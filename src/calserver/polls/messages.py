"""The e-mails of meeting polls (pure: no I/O): the voter's invitation with their
personal link, what changed, reminders, the final date, closing, deletion and the
owner's notices. Plain text; the worker adds ``From`` (``[smtp] sender``)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr

from calserver.polls.model import Option, Poll, Voter


def _message(to: Voter | tuple[str, str], subject: str, body: str, reply_to: str) -> EmailMessage:
    message = EmailMessage()
    name, address = (to.name, to.email) if isinstance(to, Voter) else to
    message["To"] = formataddr((name, address)) if name else address
    message["Subject"] = subject
    if reply_to:
        message["Reply-To"] = reply_to
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def _details(poll: Poll) -> str:
    lines = [f"Poll: {poll.title}"]
    if poll.location:
        lines.append(f"Where: {poll.location}")
    lines.append(f"Duration: {poll.duration} minutes")
    if poll.description:
        lines += ["", poll.description]
    return "\n".join(lines)


def _options(poll: Poll, options: list[Option]) -> str:
    return "\n".join(f"  - {o.label(poll.timezone, poll.duration)}" for o in options)


def invitation(poll: Poll, voter: Voter, owner: str, link: str, reply_to: str) -> EmailMessage:
    body = (
        f"{owner} asks you to choose the dates that suit you.\n\n{_details(poll)}\n\n"
        f"Proposed dates:\n{_options(poll, poll.options)}\n\n"
        f"Answer yes, maybe or no for each date with your personal link:\n{link}\n\n"
        "You may change your answers as long as the poll is open. Keep this link to "
        "yourself: whoever has it answers in your name.\n"
    )
    return _message(voter, f"Poll: {poll.title}", body, reply_to)


def changed(
    poll: Poll,
    voter: Voter,
    owner: str,
    link: str,
    reply_to: str,
    added: list[Option],
    removed: list[Option],
) -> EmailMessage:
    parts = [f"{owner} changed the dates of the poll \u201c{poll.title}\u201d.\n"]
    if added:
        parts.append(f"New dates:\n{_options(poll, added)}\n")
    if removed:
        parts.append(
            f"Dates no longer proposed (their answers are gone):\n{_options(poll, removed)}\n"
        )
    parts.append(f"All proposed dates:\n{_options(poll, poll.options)}\n")
    parts.append(f"Your answers, with your personal link:\n{link}\n")
    return _message(voter, f"Poll changed: {poll.title}", "\n".join(parts), reply_to)


def removed_voter(poll: Poll, voter: Voter, owner: str, reply_to: str) -> EmailMessage:
    body = (
        f"{owner} removed you from the poll \u201c{poll.title}\u201d. Your link no longer "
        "works and your answers were deleted.\n"
    )
    return _message(voter, f"Removed from the poll: {poll.title}", body, reply_to)


def reminder(poll: Poll, voter: Voter, owner: str, link: str, reply_to: str) -> EmailMessage:
    body = (
        f"{owner} is waiting for your answers to the poll \u201c{poll.title}\u201d.\n\n"
        f"{_details(poll)}\n\nProposed dates:\n{_options(poll, poll.options)}\n\n"
        f"Answer with your personal link:\n{link}\n"
    )
    return _message(voter, f"Reminder: {poll.title}", body, reply_to)


def decided(poll: Poll, voter: Voter, owner: str, chosen: Option, reply_to: str) -> EmailMessage:
    body = (
        f"{owner} chose the date of \u201c{poll.title}\u201d:\n\n"
        f"  {chosen.label(poll.timezone, poll.duration)}\n\n{_details(poll)}\n\n"
        "The meeting invitation comes with its own e-mail (or is in your calendar if you "
        "have an account on this server). The poll is closed.\n"
    )
    return _message(voter, f"Date chosen: {poll.title}", body, reply_to)


def closed(poll: Poll, voter: Voter, owner: str, reply_to: str) -> EmailMessage:
    body = (
        f"{owner} closed the poll \u201c{poll.title}\u201d without choosing a date. "
        "Your link still shows the answers; they can no longer be changed.\n"
    )
    return _message(voter, f"Poll closed: {poll.title}", body, reply_to)


def deleted(poll: Poll, voter: Voter, owner: str, reply_to: str) -> EmailMessage:
    body = f"{owner} deleted the poll \u201c{poll.title}\u201d. Your link no longer works.\n"
    return _message(voter, f"Poll deleted: {poll.title}", body, reply_to)


def owner_notice(
    poll: Poll, owner_email: str, owner: str, link: str, *, everyone: bool
) -> EmailMessage:
    answered = [v for v in poll.voters if v.answered is not None]
    totals = poll.totals()
    lines = [
        f"{len(answered)} of {len(poll.voters)} voters answered the poll \u201c{poll.title}\u201d"
        + (" (everyone)." if everyone else "."),
        "",
        "Yes / maybe / no per date:",
    ]
    for option in poll.options:
        count = totals[option.id]
        lines.append(
            f"  - {option.label(poll.timezone, poll.duration)}: "
            f"{count['yes']} / {count['maybe']} / {count['no']}"
        )
    lines += ["", f"The table of answers: {link}", ""]
    subject = ("Everyone answered: " if everyone else "New answers: ") + poll.title
    return _message((owner, owner_email), subject, "\n".join(lines), "")
