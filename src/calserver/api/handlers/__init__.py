"""The operations of the API by resource, as mixins of :class:`calserver.api.Api`: one
``op_<operationId>`` method per operation of the OpenAPI document. Each reads the
request, calls the services (calendars, sharing, feeds, scheduling, accounts) and says
what to answer; none runs SQL."""
