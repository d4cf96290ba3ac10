"""Calendar subscriptions (issue 18): an ``http(s)``/``webcal`` calendar kept by the
server as a read-only calendar in the subscriber's home.

The calendar is an ordinary calendar collection (every CalDAV client sees it, it can be
shared and published like any other); what makes it a subscription is its row in
``subscriptions``, which ties it to a row of ``subscription_sources`` (one per distinct
URL). The worker (:mod:`calserver.subscriptions.refresh`) fetches each source once when
it is due, however many people subscribe to it, and writes what changed into each
subscriber's calendar; clients may not write into it (:mod:`calserver.subscriptions.hooks`).

- :mod:`~calserver.subscriptions.manage`: subscribe, list, change, unsubscribe;
- :mod:`~calserver.subscriptions.refresh`: claim due sources, fetch, apply, back off;
- :mod:`~calserver.subscriptions.hooks`: the write hook refusing clients' writes.
"""
