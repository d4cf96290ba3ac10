"""The OpenAPI 3.1 document of the API, ``openapi.json`` beside this module: the one
source of truth. The router routes exactly the operations it lists, each to the
``op_<operationId>`` method of :class:`calserver.api.Api`; request bodies are checked
against the schemas it declares (:mod:`calserver.api.schema`); an operation needs a login
unless it says ``security: []``. It is served, anonymously, at ``/.api/v1/openapi.json``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from calserver.urls import API, API_ROOT, under

#: Every path under it belongs to the API (a JSON 404 for what it does not know).
RESERVED = API
ROOT = API_ROOT

#: The HTTP methods an OpenAPI path item may list operations under.
METHODS = ("get", "put", "post", "patch", "delete")


def _load() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    document["servers"] = [{"url": ROOT}]
    # every state-changing operation may be refused as cross-site (403) or for its media
    # type (415): documented once here rather than on each operation
    for item in document["paths"].values():
        for method in ("put", "post", "patch", "delete"):
            if method in item:
                item[method]["responses"].update(
                    {str(code): {"$ref": f"#/components/responses/{code}"} for code in (403, 415)}
                )
    return document


OPENAPI: dict[str, Any] = _load()


def owns(path: str) -> bool:
    """Whether ``path`` (below the prefix) is the API's."""
    return under(path, RESERVED)
