"""``calserver serve``: the processes that run the WSGI application (L7 commands).

- :mod:`calserver.run.listen`: what both ways of serving share (listen addresses, the
  clean-up of what killed imports left behind);
- :mod:`calserver.run.serve`: one process under waitress, or hands over to
- :mod:`calserver.run.gunicorn`: N worker processes under gunicorn (``--workers N``).
"""
