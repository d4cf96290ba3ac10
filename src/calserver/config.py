"""Configuration: Radicale's INI format and schema, plus calserver's own options.

Every option is declared once here (type, default, help), in the same shape as
``radicale.config.DEFAULT_CONFIG_SCHEMA``; defaults, validation, command-line flags
(``--SECTION-OPTION``) and the configuration reference in the README derive from it.
The configuration is read once at start-up into a ``radicale.config.Configuration``.
"""

from __future__ import annotations

import copy
import ipaddress
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from configparser import RawConfigParser
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from radicale import config as radicale_config
from radicale import log as radicale_log

DEFAULT_PATHS = ("/etc/calserver/config", "~/.config/calserver/config")
ENV_CONFIG = "CALSERVER_CONFIG"


class ConfigError(Exception):
    """The configuration cannot be loaded (exit code 2)."""


def _data_folder_default() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join("~", ".local", "share")
    return os.path.join(base, "calserver")


def _positive_int(value: Any) -> int:
    return radicale_config.positive_int(value)


def _worker_count(value: Any) -> int:
    count = int(value)
    if count < 1:
        raise ValueError(f"at least 1 server process is needed, not {count}")
    return count


def _time_zone(value: Any) -> str:
    name = str(value).strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


def _optional_addresses(value: Any) -> list[tuple[str, int]]:
    """Radicale's ``host:port, ...`` list, or none when empty."""
    return radicale_config.list_of_ip_address(value) if str(value).strip() else []


def _port(value: Any) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise ValueError(f"not a TCP port: {port}")
    return port


SMTP_SECURITY = ("none", "starttls", "tls")


def _smtp_security(value: Any) -> str:
    name = str(value).strip().lower()
    if name not in SMTP_SECURITY:
        raise ValueError(f"unknown security {value!r}: use none, starttls or tls")
    return name


def _mail_address(value: Any) -> str:
    """An address, optionally with a display name: ``Calendar <cal@example.org>``."""
    text = str(value).strip()
    address = parseaddr(text)[1]
    if "@" not in address or not address.isascii():
        raise ValueError(f"not an email address: {text!r}")
    return text


def _positive_seconds(value: Any) -> float:
    seconds = radicale_config.positive_float(value)
    if seconds <= 0:
        raise ValueError(f"at least some time is needed, not {seconds}")
    return seconds


# calserver's own options, added to Radicale's sections or in sections of their own.
CALSERVER_OPTIONS: Mapping[str, Mapping[str, dict[str, Any]]] = OrderedDict(
    [
        (
            "server",
            OrderedDict(
                [
                    (
                        "key_file",
                        {
                            "value": "",
                            "help": "file with the server's secret key, created on first start "
                            "(default: server.key in [storage] data_folder); every host of "
                            "one database should have the same",
                            "type": radicale_config.filepath,
                        },
                    ),
                    (
                        "public_url",
                        {
                            "value": "",
                            "help": "URL at which people reach the server, with the prefix "
                            "when behind a proxy, e.g. https://cal.example.org/dav "
                            "(default: http:// and the first of hosts)",
                            "type": str,
                        },
                    ),
                    (
                        "workers",
                        {
                            "value": "1",
                            "help": "server processes; 1 runs one process (waitress), more "
                            "run that many gunicorn workers (use PostgreSQL); also "
                            "'calserver serve --workers N'",
                            "type": _worker_count,
                        },
                    ),
                    (
                        "metrics_hosts",
                        {
                            "value": "",
                            "help": "addresses (host:port, ...) of a separate listener that "
                            "serves Prometheus metrics at /metrics (empty: no metrics)",
                            "type": _optional_addresses,
                        },
                    ),
                ]
            ),
        ),
        (
            "storage",
            OrderedDict(
                [
                    (
                        "data_folder",
                        {
                            "value": _data_folder_default(),
                            "help": "folder for the embedded SQLite database",
                            "type": radicale_config.filepath,
                        },
                    ),
                    (
                        "database_url",
                        {
                            "value": "",
                            "help": "SQLAlchemy database URL, e.g. "
                            "postgresql+psycopg://user@host/db (default: sqlite file "
                            "calserver.sqlite in data_folder)",
                            "type": str,
                        },
                    ),
                    (
                        "sqlite_busy_timeout",
                        {
                            "value": "30",
                            "help": "seconds an SQLite writer waits for another writer",
                            "type": radicale_config.positive_float,
                        },
                    ),
                    (
                        "pool_size",
                        {
                            "value": "10",
                            "help": "database connections kept open per process",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "index_horizon_days",
                        {
                            "value": "1100",
                            "help": "how far ahead of today recurrence instances are indexed",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "index_max_instances",
                        {
                            "value": "5000",
                            "help": "most instances indexed per recurring event (the rest is "
                            "found by a slower scan)",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "max_properties",
                        {
                            "value": "100",
                            "help": "most WebDAV properties a collection keeps, and most a "
                            "PROPPATCH may change (RFC 4918: 507 / 413 above)",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "max_property_size",
                        {
                            "value": "65536",
                            "help": "most bytes of one property value (507 above)",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "max_properties_size",
                        {
                            "value": "262144",
                            "help": "most bytes of all the properties of one collection "
                            "(507 above)",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "max_proppatch_size",
                        {
                            "value": "262144",
                            "help": "most bytes of a PROPPATCH request body (413 above)",
                            "type": _positive_int,
                        },
                    ),
                ]
            ),
        ),
        (
            "auth",
            OrderedDict(
                [
                    (
                        "login_cache_ttl",
                        {
                            "value": "600",
                            "help": "seconds a verified password is remembered (0 disables)",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "throttle_free_attempts",
                        {
                            "value": "5",
                            "help": "failed logins per account before attempts are slowed down",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "throttle_address_free_attempts",
                        {
                            "value": "20",
                            "help": "failed logins per client address before attempts are "
                            "slowed down",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "throttle_max_delay",
                        {
                            "value": "300",
                            "help": "longest wait in seconds imposed after repeated failures",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "throttle_window",
                        {
                            "value": "900",
                            "help": "seconds after which failed logins are forgotten",
                            "type": _positive_int,
                        },
                    ),
                ]
            ),
        ),
        (
            "feeds",
            OrderedDict(
                [
                    (
                        "timezone",
                        {
                            "value": "UTC",
                            "help": "IANA time zone of users who set none (feeds, public "
                            "pages, imports)",
                            "type": _time_zone,
                        },
                    ),
                    (
                        "default_duration",
                        {
                            "value": "60",
                            "help": "minutes an event without an end lasts, for users who set none",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "past_days",
                        {
                            "value": "45",
                            "help": "days before today a calendar.ics feed covers "
                            "(?past_days= overrides it, up to max_past_days)",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "future_days",
                        {
                            "value": "60",
                            "help": "days after today a calendar.ics feed covers "
                            "(?future_days= overrides it, up to max_future_days)",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "max_past_days",
                        {
                            "value": "3660",
                            "help": "largest past_days a feed URL may ask for",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "max_future_days",
                        {
                            "value": "1830",
                            "help": "largest future_days a feed URL may ask for",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "expand",
                        {
                            "value": "False",
                            "help": "expand recurring series into occurrences in "
                            "calendar.ics feeds (?expand=1 asks for it per URL)",
                            "type": bool,
                        },
                    ),
                ]
            ),
        ),
        (
            "smtp",
            OrderedDict(
                [
                    (
                        "host",
                        {
                            "value": "",
                            "help": "SMTP server that 'calserver worker' sends email through "
                            "(empty: mail is disabled and messages stay queued)",
                            "type": str,
                        },
                    ),
                    (
                        "port",
                        {
                            "value": "25",
                            "help": "port of the SMTP server (usually 587 with starttls, "
                            "465 with tls)",
                            "type": _port,
                        },
                    ),
                    (
                        "security",
                        {
                            "value": "none",
                            "help": "none (plain SMTP), starttls (upgrade after connecting) "
                            "or tls (TLS from the start); the server's certificate is verified",
                            "type": _smtp_security,
                        },
                    ),
                    (
                        "username",
                        {
                            "value": "",
                            "help": "user name to log in to the SMTP server (empty: no login)",
                            "type": str,
                        },
                    ),
                    (
                        "password",
                        {
                            "value": "",
                            "help": "password to log in to the SMTP server (never logged; "
                            "keep it in the file, not on a command line)",
                            "type": str,
                        },
                    ),
                    (
                        "sender",
                        {
                            "value": "calserver@localhost",
                            "help": "From address of the email calserver sends, e.g. "
                            "Calendar <calendar@example.org> (its address is also the "
                            "envelope sender)",
                            "type": _mail_address,
                        },
                    ),
                    (
                        "timeout",
                        {
                            "value": "30",
                            "help": "seconds to wait for the SMTP server at each step",
                            "type": _positive_seconds,
                        },
                    ),
                ]
            ),
        ),
    ]
)


def _networks(value: Any) -> list[Any]:
    """A comma-separated list of networks (``127.0.0.1/32, 10.0.0.0/8``), maybe empty."""
    return [
        ipaddress.ip_network(part.strip(), strict=False)
        for part in str(value).split(",")
        if part.strip()
    ]


def _size(value: Any) -> int:
    size = int(value)
    if size < 0:
        raise ValueError(f"a size cannot be negative: {size}")
    return size


# WebDAV-Push (calserver.push) and RFC 8607 managed attachments (calserver.attachments).
PUSH_AND_ATTACHMENT_OPTIONS: Mapping[str, Mapping[str, dict[str, Any]]] = OrderedDict(
    [
        (
            "push",
            OrderedDict(
                [
                    (
                        "enabled",
                        {
                            "value": "False",
                            "help": "offer WebDAV-Push (Web Push messages on calendar changes); "
                            "'calserver worker' must run to send them",
                            "type": bool,
                        },
                    ),
                    (
                        "allowed_networks",
                        {
                            "value": "",
                            "help": "push services on loopback, private or link-local addresses "
                            "that 'calserver worker' may nevertheless reach, as networks "
                            "(e.g. 127.0.0.1/32, 10.0.0.0/8); by default it reaches only public "
                            "addresses",
                            "type": _networks,
                        },
                    ),
                    (
                        "interval",
                        {
                            "value": "10",
                            "help": "seconds between two push messages to one subscription "
                            "(changes in between are announced by one message)",
                            "type": radicale_config.positive_float,
                        },
                    ),
                    (
                        "max_expiry",
                        {
                            "value": "604800",
                            "help": "longest a subscription lives before the client must renew "
                            "it, in seconds",
                            "type": _positive_seconds,
                        },
                    ),
                    (
                        "timeout",
                        {
                            "value": "10",
                            "help": "seconds to wait for a push service",
                            "type": _positive_seconds,
                        },
                    ),
                    (
                        "contact",
                        {
                            "value": "",
                            "help": "contact URI in the VAPID claims, mailto: or https: "
                            "(default: mailto: the [smtp] sender's address)",
                            "type": str,
                        },
                    ),
                ]
            ),
        ),
        (
            "attachments",
            OrderedDict(
                [
                    (
                        "enabled",
                        {
                            "value": "True",
                            "help": "accept RFC 8607 managed attachments on events",
                            "type": bool,
                        },
                    ),
                    (
                        "max_size",
                        {
                            "value": "10000000",
                            "help": "largest attachment in bytes (also bounded by [server] "
                            "max_content_length)",
                            "type": _size,
                        },
                    ),
                    (
                        "max_per_resource",
                        {
                            "value": "20",
                            "help": "most managed attachments on one event",
                            "type": _size,
                        },
                    ),
                    (
                        "quota",
                        {
                            "value": "100000000",
                            "help": "bytes of attachments per calendar owner (0: no limit)",
                            "type": _size,
                        },
                    ),
                ]
            ),
        ),
    ]
)


def _sms_backend(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("none", "http", "smtp"):
        raise ValueError(f"[sms] backend must be none, http or smtp, not {value!r}")
    return text


def _sms_address(value: Any) -> str:
    text = str(value).strip()
    if text and "{number}" not in text:
        raise ValueError("[sms] smtp_address must contain {number}, e.g. {number}@sms.example.org")
    return text


# Reminders and the agenda (calserver.reminders), and the SMS gateway they may use.
REMINDER_OPTIONS: Mapping[str, Mapping[str, dict[str, Any]]] = OrderedDict(
    [
        (
            "reminders",
            OrderedDict(
                [
                    (
                        "max_lateness",
                        {
                            "value": "900",
                            "help": "seconds after its time that a reminder or an agenda is still "
                            "sent; later (the worker was stopped) it is recorded as missed",
                            "type": _positive_seconds,
                        },
                    ),
                    (
                        "send_now_interval",
                        {
                            "value": "300",
                            "help": "seconds a user waits between two 'send now' of their agenda",
                            "type": _positive_seconds,
                        },
                    ),
                ]
            ),
        ),
        (
            "sms",
            OrderedDict(
                [
                    (
                        "backend",
                        {
                            "value": "none",
                            "help": "how SMS are sent: none, http (POST of JSON {to, text, id} "
                            "to [sms] url, signed) or smtp (mail to [sms] smtp_address)",
                            "type": _sms_backend,
                        },
                    ),
                    (
                        "url",
                        {
                            "value": "",
                            "help": "the gateway's URL (backend http)",
                            "type": str,
                        },
                    ),
                    (
                        "secret",
                        {
                            "value": "",
                            "help": "key of the X-Calserver-Signature header, the hex HMAC-SHA256 "
                            "of the body (backend http)",
                            "type": str,
                        },
                    ),
                    (
                        "smtp_address",
                        {
                            "value": "",
                            "help": "address template of the mail-to-SMS gateway, e.g. "
                            "{number}@sms.example.org (backend smtp)",
                            "type": _sms_address,
                        },
                    ),
                    (
                        "timeout",
                        {
                            "value": "10",
                            "help": "seconds to wait for the gateway (backend http)",
                            "type": _positive_seconds,
                        },
                    ),
                ]
            ),
        ),
    ]
)


# Calendar subscriptions (issue 18, calserver.subscriptions); the fetcher's SSRF guard
# (calserver.outbound) reads allowed_networks.
SUBSCRIPTION_OPTIONS: Mapping[str, Mapping[str, dict[str, Any]]] = OrderedDict(
    [
        (
            "subscriptions",
            OrderedDict(
                [
                    (
                        "allowed_networks",
                        {
                            "value": "",
                            "help": "loopback, private or link-local networks that subscriptions "
                            "(and sync) may nevertheless reach, as CIDRs (e.g. 10.0.0.0/8); by "
                            "default only public addresses are fetched",
                            "type": _networks,
                        },
                    ),
                    (
                        "default_interval",
                        {
                            "value": "3600",
                            "help": "seconds between two fetches of a subscribed calendar when "
                            "neither the subscription nor the source (REFRESH-INTERVAL) says",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "min_interval",
                        {
                            "value": "300",
                            "help": "shortest interval between two fetches of one source, seconds",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "max_interval",
                        {
                            "value": "604800",
                            "help": "longest interval between two fetches of one source, seconds "
                            "(a source's REFRESH-INTERVAL is kept within min and max)",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "max_size",
                        {
                            "value": "10000000",
                            "help": "largest subscribed calendar in bytes",
                            "type": _positive_int,
                        },
                    ),
                    (
                        "timeout",
                        {
                            "value": "30",
                            "help": "seconds a whole fetch may take",
                            "type": _positive_seconds,
                        },
                    ),
                    (
                        "max_redirects",
                        {
                            "value": "5",
                            "help": "most redirects a fetch follows (each one checked again)",
                            "type": _size,
                        },
                    ),
                    (
                        "max_events",
                        {
                            "value": "20000",
                            "help": "most events (UIDs) a subscribed calendar may hold",
                            "type": _positive_int,
                        },
                    ),
                ]
            ),
        ),
    ]
)


# Sync with other CalDAV servers (calserver.remotesync, issue 18 part 2).
SYNC_OPTIONS: Mapping[str, Mapping[str, dict[str, Any]]] = OrderedDict(
    [
        (
            "sync",
            OrderedDict(
                [
                    (
                        "enabled",
                        {
                            "value": "True",
                            "help": "keep calendar pairs in step with other CalDAV servers "
                            "('calserver worker' runs them)",
                            "type": bool,
                        },
                    ),
                    (
                        "allowed_networks",
                        {
                            "value": "",
                            "help": "remote servers on loopback, private or link-local addresses "
                            "that a sync may nevertheless reach, as networks (e.g. 10.0.0.0/8), "
                            "besides [subscriptions] allowed_networks; by default only public "
                            "addresses",
                            "type": _networks,
                        },
                    ),
                    (
                        "interval",
                        {
                            "value": "900",
                            "help": "seconds between two runs of a pair with no local change",
                            "type": _positive_seconds,
                        },
                    ),
                    (
                        "debounce",
                        {
                            "value": "10",
                            "help": "seconds a pair waits after a local change before it runs "
                            "(later changes in that time join the same run)",
                            "type": radicale_config.positive_float,
                        },
                    ),
                    (
                        "timeout",
                        {
                            "value": "30",
                            "help": "seconds to wait for a remote server's answer",
                            "type": _positive_seconds,
                        },
                    ),
                ]
            ),
        ),
    ]
)


#: Every (section, options) calserver adds, in the order of the configuration reference.
OWN_OPTIONS: list[tuple[str, Mapping[str, dict[str, Any]]]] = [
    *CALSERVER_OPTIONS.items(),
    *PUSH_AND_ATTACHMENT_OPTIONS.items(),
    *REMINDER_OPTIONS.items(),
    *SUBSCRIPTION_OPTIONS.items(),
    *SYNC_OPTIONS.items(),
]


# Radicale options whose defaults calserver changes.
CHANGED_DEFAULTS: Mapping[tuple[str, str], str] = {
    ("server", "hosts"): "127.0.0.1:5232",
    ("auth", "type"): "calserver.auth",
    ("rights", "type"): "calserver.rights",
    ("storage", "type"): "calserver.storage",
    ("web", "type"): "none",
    ("logging", "mask_passwords"): "True",
}


def build_schema() -> OrderedDict[str, OrderedDict[str, dict[str, Any]]]:
    """Radicale's schema with calserver's defaults and options."""
    schema: OrderedDict[str, OrderedDict[str, dict[str, Any]]] = copy.deepcopy(
        radicale_config.DEFAULT_CONFIG_SCHEMA  # type: ignore[arg-type]
    )
    for (section, option), value in CHANGED_DEFAULTS.items():
        schema[section][option] = dict(schema[section][option], value=value)
    for section, options in OWN_OPTIONS:
        target = schema.setdefault(section, OrderedDict())
        for option, spec in options.items():
            if option in target:
                raise AssertionError(f"option declared twice: [{section}] {option}")
            target[option] = dict(spec)
    return schema


SCHEMA = build_schema()


def public_options() -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(section, option, spec) of every option a user may set."""
    for section, options in SCHEMA.items():
        if section.startswith("_"):
            continue
        for option, spec in options.items():
            if option.startswith("_") or option in radicale_config.INTERNAL_OPTIONS:
                continue
            yield section, option, spec


def flag_name(section: str, option: str) -> str:
    return "--%s-%s" % (section, option.replace("_", "-"))


def config_paths(explicit: str | None) -> list[tuple[str, bool]]:
    """Files to read, as ``(path, ignore_if_missing)``: --config, else $CALSERVER_CONFIG,
    else the default locations."""
    if explicit:
        return [(explicit, False)]
    from_env = os.environ.get(ENV_CONFIG)
    if from_env:
        return [(os.path.expanduser(p), False) for p in from_env.split(os.pathsep) if p]
    return [(os.path.expanduser(p), True) for p in DEFAULT_PATHS]


def load(
    paths: Iterable[tuple[str, bool]] = (),
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> radicale_config.Configuration:
    """Build the configuration from files and then command-line overrides."""
    configuration = radicale_config.Configuration(SCHEMA)  # type: ignore[arg-type]
    try:
        for path, ignore_if_missing in paths:
            parser = RawConfigParser()
            try:
                with open(path, encoding="utf-8") as f:
                    parser.read_file(f)
            except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
                if ignore_if_missing:
                    continue
                raise ConfigError(f"cannot read config file {path!r}: {exc}") from exc
            except Exception as exc:  # configparser errors
                raise ConfigError(f"invalid config file {path!r}: {exc}") from exc
            values = {s: {o: parser[s][o] for o in parser.options(s)} for s in parser.sections()}
            configuration.update(values, f"config file {path!r}")
        if overrides:
            configuration.update(
                {s: dict(o) for s, o in overrides.items()}, "command line arguments"
            )
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(str(exc)) from exc
    return configuration


def load_default() -> radicale_config.Configuration:
    """The configuration as ``calserver`` reads it without options: $CALSERVER_CONFIG,
    else the default paths (what ``calserver.wsgi:create_app`` serves)."""
    return load(config_paths(None))


def setup_logging(configuration: radicale_config.Configuration) -> None:
    """Radicale's logging at ``[logging] level`` (``calserver serve``, ``calserver
    worker`` and the WSGI entry point)."""
    radicale_log.setup()
    radicale_log.set_level(
        configuration.get("logging", "level"), configuration.get("logging", "backtrace_on_debug")
    )


def database_url(configuration: radicale_config.Configuration) -> str:
    url = configuration.get("storage", "database_url")
    if url:
        return url
    folder = configuration.get("storage", "data_folder")
    return "sqlite:///" + os.path.join(folder, "calserver.sqlite")


def reference_markdown() -> str:
    """The configuration reference of calserver's own options and changed defaults
    (the README shows this text; a test keeps them equal)."""
    rows = ["| section | option | default | meaning |", "|---|---|---|---|"]
    for section, options in OWN_OPTIONS:
        for option, spec in options.items():
            default = spec["value"]
            if (section, option) == ("storage", "data_folder"):
                default = "$XDG_DATA_HOME/calserver (~/.local/share/calserver)"
            rows.append(f"| {section} | {option} | `{default}` | {spec['help']} |")
    for (section, option), value in CHANGED_DEFAULTS.items():
        rows.append(f"| {section} | {option} | `{value}` | Radicale's option; calserver default |")
    return "\n".join(rows) + "\n"
