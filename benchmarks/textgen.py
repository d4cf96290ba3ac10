"""Plausible calendar text (summaries, places, people, descriptions) from a seeded RNG."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

_FIRST = (
    "Anna",
    "Bram",
    "Chloé",
    "David",
    "Elif",
    "François",
    "Greta",
    "Hiroshi",
    "Inès",
    "Jonas",
    "Kenji",
    "Lotte",
    "Mateo",
    "Noor",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tomás",
    "Ursula",
    "Vincent",
    "Wen",
    "Yuki",
    "Zoë",
)
_LAST = (
    "Peeters",
    "Janssens",
    "Maes",
    "Dubois",
    "Nakamura",
    "Smith",
    "García",
    "Müller",
    "Rossi",
    "Kowalski",
    "Tanaka",
    "Johnson",
    "Lambert",
    "De Smet",
    "Okafor",
    "Nguyen",
    "Haddad",
)
_DOMAINS = ("example.com", "example.org", "example.net", "corp.example", "mail.example")

_MEETINGS = (
    "Team sync",
    "Budget review",
    "Sprint planning",
    "Retrospective",
    "Design review",
    "Quarterly business review",
    "Architecture board",
    "Hiring committee",
    "Customer call",
    "Vendor negotiation",
    "Board meeting",
    "All hands",
    "Security briefing",
    "Release triage",
)
_PROJECTS = (
    "Atlas",
    "Borealis",
    "Cobalt",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Helix",
    "Iris",
    "Juniper",
)
_PERSONAL = (
    "Dentist",
    "Yoga",
    "Piano lesson",
    "Parents' evening",
    "Car service",
    "Haircut",
    "Football training",
    "Dinner with friends",
    "Physiotherapy",
    "Book club",
)
_ALL_DAY = (
    "Conference",
    "Public holiday",
    "Offsite",
    "Trade fair",
    "Vacation",
    "Training day",
    "Birthday",
    "Company anniversary",
    "Moving day",
    "Hackathon",
)
_PLACES = (
    "Meeting room 4.12, Rue de la Loi 200, 1000 Bruxelles",
    "Salle Horta, Grand-Place 1, Bruxelles",
    "Conference room B, 350 Fifth Avenue, New York, NY",
    "東京オフィス 5F 会議室, 千代田区丸の内 1-1",
    "Café Central, Herrengasse 14, Wien",
    "Online (video call)",
    "Room 2.07; building C",
    "Main auditorium, Science Park 904, Amsterdam",
)
_SENTENCES = (
    "Please read the attached notes before the meeting",
    "We will go through the open action items from last time",
    "Bring your laptop; the projector in this room is unreliable",
    "Agenda: status per team, risks, decisions needed, next steps",
    "Dial-in details are in the invitation; the meeting ID did not change",
    "The numbers for the last quarter are in the shared folder",
    "Coffee and pastries will be served from 15 minutes before the start",
    "If you cannot attend, send a delegate or your written input",
    "Minutes will be circulated within two working days",
    "Parking is available in the garage under the building, level -2",
    "This slot replaces the one that was cancelled because of the strike",
    "Remember: the café downstairs only takes cards, not cash",
    "Questions for the panel can be submitted in advance by e-mail",
    "We need a decision on the roll-out date, the budget and the staffing",
)
_CATEGORIES = ("Work", "Personal", "Travel", "Family", "Project", "Finance", "Health")


@dataclass(frozen=True)
class Person:
    """A named calendar user address."""

    name: str
    email: str


def person(rng: random.Random) -> Person:
    """A person with a name and a matching e-mail address."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    local = unicodedata.normalize("NFKD", f"{first}.{last}".lower().replace(" ", ""))
    ascii_local = local.encode("ascii", "ignore").decode()
    return Person(f"{first} {last}", f"{ascii_local}@{rng.choice(_DOMAINS)}")


def summary(rng: random.Random, all_day: bool) -> str:
    """An event title."""
    if all_day:
        return f"{rng.choice(_ALL_DAY)} {rng.choice(_PROJECTS)}"
    roll = rng.random()
    if roll < 0.55:
        return f"{rng.choice(_MEETINGS)} \u2013 {rng.choice(_PROJECTS)}"  # en dash
    if roll < 0.75:
        return f"1:1 {rng.choice(_FIRST)} / {rng.choice(_FIRST)}"
    return rng.choice(_PERSONAL)


def location(rng: random.Random) -> str:
    """A place, sometimes with non-ASCII characters and TEXT separators."""
    return rng.choice(_PLACES)


def categories(rng: random.Random) -> tuple[str, ...]:
    """One or two categories."""
    return tuple(rng.sample(_CATEGORIES, rng.randint(1, 2)))


def description(rng: random.Random, length: int) -> str:
    """About ``length`` characters of prose in short paragraphs."""
    parts: list[str] = []
    size = 0
    while size < length:
        sentence = rng.choice(_SENTENCES) + ("." if rng.random() < 0.8 else ", thanks!")
        parts.append(sentence + ("\n" if rng.random() < 0.3 else " "))
        size += len(sentence) + 1
    text = "".join(parts).strip()
    if len(text) > length:
        cut = text.rfind(" ", 0, length)
        text = text[: cut if cut > 0 else length].rstrip(",;") + "…"
    return text
