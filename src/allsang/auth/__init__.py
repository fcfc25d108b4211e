"""Authentication: passwords, server-side sessions, API tokens and login rate limiting.

Everything that decides *who* is asking lives here; *what* they may do is
:func:`allsang.authz.authorize`.
"""
