"""``python -m reasoningbank`` runs the CLI."""

from .cli import main

raise SystemExit(main())
