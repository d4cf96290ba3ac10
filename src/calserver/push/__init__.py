"""WebDAV-Push (the draft of bitfire.at that DAVx5 and Xandikos implement): Web Push
messages (RFC 8030) when a calendar changes.

- ``crypto``: VAPID (RFC 8292) and message encryption (RFC 8291, RFC 8188), pure;
- ``subscriptions``: the registrations (``push_subscriptions``), the topics of
  calendars, the coalescing queue;
- ``hooks``: how the storage's writes reach it (registered by ``calserver.app``);
- ``worker``: what ``calserver worker`` does: sends the due messages, drops
  subscriptions the push service forgot (404, 410) or that expired.

The DAV side (``P:push-transports``, ``P:topic``, the ``P:push-register`` POST) is
``calserver.dav.push``.
"""

#: The XML namespace of WebDAV-Push.
NAMESPACE = "https://bitfire.at/webdav-push"
