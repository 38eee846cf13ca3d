"""Registers every sub-command module on the root Typer app."""

from relayroom.cli import app
from relayroom.cli.oplog_cmd import checkpoint_app, oplog_app
from relayroom.cli.serve import serve

app.command("serve")(serve)
app.add_typer(oplog_app, name="oplog")
app.add_typer(checkpoint_app, name="checkpoint")
