"""``python -m allsang`` is the same as the ``allsang`` command."""

from allsang.cli import main

main()
