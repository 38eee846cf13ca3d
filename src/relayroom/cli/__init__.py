"""`relayroom` command line (Typer). Sub-apps live one per module beside this file."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="RelayRoom server and tools.")


def main() -> None:
    from relayroom.cli import commands  # noqa: F401  (registers sub-commands)

    app()
