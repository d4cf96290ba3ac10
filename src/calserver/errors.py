"""Errors of calserver's management layer, translated once at the CLI / HTTP boundary."""


class CalserverError(Exception):
    """A request that cannot be carried out (exit code 1, HTTP 4xx)."""

    status = 400


class NotFound(CalserverError):
    status = 404


class Conflict(CalserverError):
    status = 409


class InvalidInput(CalserverError):
    status = 400


class Forbidden(CalserverError):
    status = 403
