"""Privacy: erasing and exporting a contact's data on request, and retention policies.

See :mod:`allsang.privacy.erase` and :mod:`allsang.privacy.retention`, and docs/privacy.md.
"""
