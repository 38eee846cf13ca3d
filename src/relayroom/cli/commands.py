"""Registers every sub-command module on the root Typer app."""

from relayroom.cli import app
from relayroom.cli.admin_cmd import accounts_app, apps_app, credentials_app, users_app
from relayroom.cli.moderation_cmd import block_user  # noqa: F401  (registers apps block/unblock/blocked)
from relayroom.cli.node_cmd import node_app
from relayroom.cli.oplog_cmd import checkpoint_app, oplog_app
from relayroom.cli.privacy_cmd import privacy_app, receipt_app, retention_app
from relayroom.cli.serve import serve
from relayroom.cli.usersig_cmd import privatemapkey_app, usersig_app

app.command("serve")(serve)
app.add_typer(oplog_app, name="oplog")
app.add_typer(checkpoint_app, name="checkpoint")
app.add_typer(users_app, name="users")
app.add_typer(accounts_app, name="accounts")
app.add_typer(apps_app, name="apps")
app.add_typer(credentials_app, name="credentials")
app.add_typer(usersig_app, name="usersig")
app.add_typer(privatemapkey_app, name="privatemapkey")
app.add_typer(retention_app, name="retention")
app.add_typer(receipt_app, name="receipt")
app.add_typer(privacy_app, name="privacy")
app.add_typer(node_app, name="node")
