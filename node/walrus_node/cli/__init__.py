"""Command-line entry points: ``walrus-node`` (storage node) and ``walrus`` (client)."""
