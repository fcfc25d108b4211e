"""Continuity (SPEC §2E): no single point of failure.

* :mod:`.rota` — who is on duty in a department (:func:`on_duty`, used by inbox routing);
* :mod:`.absence` — out-of-office with a deputy, handing work over and back;
  :func:`register_handover` lets other areas plug their own kinds of work in
  (:mod:`.conversations` is the provider for inbox conversations);
* :mod:`.reconnect` — every channel needs two people who can reconnect it;
* :mod:`.busfactor` — who took part per channel and department, and the alarm.

See ``docs/continuity.md``.
"""

from allsang.continuity import conversations as _conversations  # noqa: F401 (registers)
from allsang.continuity.handover import HandedOver, register_handover
from allsang.continuity.rota import on_duty

__all__ = ["HandedOver", "on_duty", "register_handover"]
