"""The Collection of the SQL storage, composed of one mixin per concern
(like ``radicale.storage.multifilesystem``)."""

from __future__ import annotations

from calserver.storage.base import CollectionBase, CollectionState, http_date
from calserver.storage.get import GetMixin
from calserver.storage.meta import MetaMixin
from calserver.storage.sync import SyncMixin
from calserver.storage.upload import UploadMixin

__all__ = ["Collection", "CollectionState", "http_date"]


class Collection(GetMixin, UploadMixin, SyncMixin, MetaMixin, CollectionBase):
    """A calendar, principal or folder as one request sees it."""
