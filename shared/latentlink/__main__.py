"""``python -m latentlink``: the same CLI as the ``latentlink`` command."""

from latentlink.cli import main

main()
