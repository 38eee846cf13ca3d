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
    """Recompute the whole chain under the deployment's key and compare it with the data dir's
    automatic checkpoints (and --checkpoint); exit 1 naming the first entry that differs."""
    from relayroom.control.oplog.checkpoints import CheckpointStore, compare_all
    from relayroom.crypto.signing import verify_document

    held: dict[str, Any] | None = json.loads(checkpoint.read_text()) if checkpoint else None
    settings = settings_from(config, data_dir, database_url)

    async def run(services: Services) -> tuple[dict[str, Any], str | None, int | None]:
        async with services.ctx.db.read() as session:
            report = await services.oplog.verify(session)
            hashes = await services.oplog.hashes(session)
        checkpoints, _ = CheckpointStore(settings.data_dir, services.ctx.signer.public_key_b64).load()
        result = report.as_dict()
        if held is not None:
            if not verify_document(held, services.ctx.signer.public_key_b64):
                return result, "the checkpoint's signature does not verify with this deployment's key", None
            checkpoints.append(held)
        result["checkpoints_compared"] = len(checkpoints)
        difference = compare_all(report, hashes, checkpoints)
        if difference is not None:
            return result, difference.message, difference.first_differing
        return result, None, None

    result, problem, where = with_services(settings, run)
    if problem:
        result.update(ok=False, problem=problem)
        if where is not None:
            result["broken_at"] = where
    typer.echo(json.dumps(result, indent=2))
    if not result["ok"]:
        at = f" at entry {result['broken_at']}" if result.get("broken_at") else ""
        typer.echo(f"oplog verification FAILED{at}: {result['problem']}", err=True)
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
