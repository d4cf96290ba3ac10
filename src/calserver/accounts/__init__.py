"""Accounts: users and their passwords, per-user settings, the login throttle, and the
directory (who is who, by name and by e-mail address). SQL and pure rules only: no HTTP,
no Radicale request objects, and nothing of ``calserver.auth`` (the Radicale plugin, a
surface that sits above this layer and uses it)."""
