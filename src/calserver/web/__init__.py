"""The web app under ``/.web/`` (issue 14): server-rendered pages for people with only a
browser, over the same services as the JSON API and, for events, the same CalDAV code
(calserver.web.dav: an in-process request on behalf of the signed-in user).

- :mod:`~calserver.web.http`: the request (form, query, session) and the answer;
- :mod:`~calserver.web.routes`: the route table the page modules fill;
- :mod:`~calserver.web.render`: Jinja2 templates (``templates/``), autoescaped;
- :mod:`~calserver.web.app`: the WSGI application: sessions, CSRF, static files,
  security headers, the error pages;
- :mod:`calserver.web.pages`: one module per area (sign-in, calendar, events, ...).

Every asset ships in the package (``static/``), served with a year's cache lifetime
under a content hash; every page carries a strict Content-Security-Policy (no inline
script or style, nothing from elsewhere).
"""
