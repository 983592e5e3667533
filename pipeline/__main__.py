"""``python -m pipeline`` runs the ``ipsec-drops`` command line."""

from .cli import main

main()
