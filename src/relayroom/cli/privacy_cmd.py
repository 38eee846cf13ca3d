"""`relayroom retention status|run`, `relayroom receipt verify`, `relayroom privacy records`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from relayroom.cli.common import ConfigOpt, DataDirOpt, DbOpt, settings_from, with_services
from relayroom.control.services import Services

retention_app = typer.Typer(no_args_is_help=True, help="Purges of terminated accounts and applications.")
receipt_app = typer.Typer(no_args_is_help=True, help="Deletion receipts.")
privacy_app = typer.Typer(no_args_is_help=True, help="Records of processing of this deployment.")


@retention_app.command("status")
def status(config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbOpt = None) -> None:
    """What is due when: every scheduled, running and completed purge."""

    async def run(services: Services) -> list[dict[str, Any]]:
        return await services.retention.status()

    typer.echo(json.dumps(with_services(settings_from(config, data_dir, database_url), run), indent=2))


@retention_app.command("run")
def run_now(
    now: Annotated[
        str | None, typer.Option(help="ISO time to run as (e.g. to check what a date would purge)")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Run every purge due at NOW (default: the current time) to completion."""
    when = datetime.fromisoformat(now) if now else datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)

    async def run(services: Services) -> list[dict[str, Any]]:
        outcomes = await services.retention.run_due(when)
        await services.requests.process_pending()
        return [
            {
                "job_id": o.job_id,
                "receipt_id": o.receipt_id,
                "sla_breach": o.sla_breach,
                "row_counts": o.counts,
            }
            for o in outcomes
        ]

    typer.echo(json.dumps(with_services(settings_from(config, data_dir, database_url), run), indent=2))


@receipt_app.command("verify")
def verify_receipt(
    file: Path,
    public_key: Annotated[
        str | None, typer.Option(help="the deployment's Ed25519 public key (base64) to trust")
    ] = None,
) -> None:
    """Verify a deletion receipt's signature offline (no server or database needed)."""
    from relayroom.crypto.signing import verify_document

    doc = json.loads(file.read_text())
    if doc.get("type") != "relayroom.deletion_receipt":
        typer.echo("not a RelayRoom deletion receipt", err=True)
        raise typer.Exit(1)
    if not verify_document(doc, public_key):
        typer.echo("invalid signature: the receipt was altered or not signed by this key", err=True)
        raise typer.Exit(1)
    typer.echo(f"valid: receipt {doc['receipt_id']} completed {doc['completed_at']} ({doc['scope']})")


@privacy_app.command("records")
def records(config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbOpt = None) -> None:
    """Records of processing generated from this deployment's configuration."""
    from relayroom.control.privacy.records import processing_records

    async def run(services: Services) -> dict[str, Any]:
        return await processing_records(services.ctx)

    typer.echo(json.dumps(with_services(settings_from(config, data_dir, database_url), run), indent=2))
