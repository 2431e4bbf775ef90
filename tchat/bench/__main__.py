"""``python -m tchat.bench``: the same as the ``tchat-bench`` command."""

from tchat.bench.cli import main

main()
