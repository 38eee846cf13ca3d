"""`relayroom oplog verify|checkpoint` and `relayroom checkpoint verify`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from relayroom.cli.common import ConfigOpt, DataDirOpt, DbOpt, settings_from, with_services
from relayroom.control.services import Services

oplog_app = typer.Typer(no_args_is_help=True, help="The hash-chained operation log.")
checkpoint_app = typer.Typer(no_args_is_help=True, help="Signed checkpoints of the operation log.")


@oplog_app.command("verify")
def verify(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="a signed checkpoint kept earlier, to detect truncation")
    ] = None,
) -> None:
    """Recompute the whole chain; exit 1 naming the first entry that was tampered with."""
    from relayroom.control.oplog.service import check_checkpoint
    from relayroom.crypto.signing import verify_document
    from relayroom.storage.models import OplogEntry

    held: dict[str, Any] | None = json.loads(checkpoint.read_text()) if checkpoint else None

    async def run(services: Services) -> tuple[dict[str, Any], str | None]:
        from sqlalchemy import select

        async with services.ctx.db.read() as session:
            report = await services.oplog.verify(session)
            problem = None
            if held is not None:
                if not verify_document(held, services.ctx.signer.public_key_b64):
                    problem = "the checkpoint's signature does not verify with this deployment's key"
                else:
                    rows = await session.execute(select(OplogEntry.seq, OplogEntry.entry_hash))
                    hashes = {seq: h for seq, h in rows.all()}
                    problem = check_checkpoint(report, hashes, held)
            return report.as_dict(), problem

    result, problem = with_services(settings_from(config, data_dir, database_url), run)
    if problem:
        result.update(ok=False, problem=problem)
    typer.echo(json.dumps(result, indent=2))
    if not result["ok"]:
        where = f" at entry {result['broken_at']}" if result.get("broken_at") else ""
        typer.echo(f"oplog verification FAILED{where}: {result['problem']}", err=True)
        raise typer.Exit(1)


@oplog_app.command("checkpoint")
def make_checkpoint(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbOpt = None
) -> None:
    """Print a signed checkpoint (seq, head hash) of the chain to keep elsewhere."""

    async def run(services: Services) -> dict[str, Any]:
        async with services.ctx.db.read() as session:
            return await services.oplog.checkpoint(session)

    typer.echo(json.dumps(with_services(settings_from(config, data_dir, database_url), run), indent=2))


@checkpoint_app.command("verify")
def verify_checkpoint_file(
    file: Path,
    public_key: Annotated[
        str | None, typer.Option(help="the deployment's Ed25519 public key (base64) to trust")
    ] = None,
) -> None:
    """Check a checkpoint's signature offline (no database needed)."""
    from relayroom.crypto.signing import verify_document

    doc = json.loads(file.read_text())
    if verify_document(doc, public_key):
        typer.echo(f"valid: seq {doc.get('seq')} head {doc.get('head_hash')}")
        return
    typer.echo("invalid signature", err=True)
    raise typer.Exit(1)
