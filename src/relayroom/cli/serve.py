"""`relayroom serve`: the control plane (HTTP API, signalling, web pages) and its media workers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from relayroom.cli.common import ConfigOpt, DataDirOpt, DbOpt, settings_from
from relayroom.cli.node_cmd import remove_pid_file, write_pid_file
from relayroom.control.bootstrap import (
    FirstStart,
    first_start_message,
    first_start_notice,
    write_first_start_file,
)

DEV_WARNING = (
    "WARNING: development mode (--dev). POST /api/dev/usersig hands a UserSig of the demo application to "
    "anyone who can reach this port. Never run --dev in production.\n"
)


def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
    host: Annotated[str | None, typer.Option(help="HTTP bind address (RELAYROOM_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (RELAYROOM_PORT)")] = None,
    region: Annotated[str | None, typer.Option(help="this node's region (RELAYROOM_REGION)")] = None,
    regions: Annotated[str | None, typer.Option(help="the deployment's regions, comma-separated")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug|info|warning|error")] = None,
    log_format: Annotated[
        str | None,
        typer.Option(help="human|json|auto: auto is human on a terminal, else JSON (RELAYROOM_LOG_FORMAT)"),
    ] = None,
    dev: Annotated[bool, typer.Option("--dev", help="dev conveniences (demo UserSig endpoint)")] = False,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="HTTPS: PEM certificate chain (RELAYROOM_TLS_CERT)")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert (RELAYROOM_TLS_KEY)")
    ] = None,
) -> None:
    """Start RelayRoom with embedded defaults (SQLite in the data dir, one node)."""
    from relayroom.control.app import create_app
    from relayroom.control.server import Server, server_config
    from relayroom.logs import setup_logging

    settings = settings_from(
        config,
        data_dir,
        database_url,
        host=host,
        port=port,
        region=region,
        regions=regions.split(",") if regions else None,
        log_level=log_level,
        log_format=log_format,
        dev=dev or None,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    setup_logging(settings.log_level, process="control-plane", log_format=settings.log_format)
    for path in (settings.tls_cert, settings.tls_key):
        if path is not None and not path.is_file():
            raise typer.BadParameter(f"{path} is not a readable file", param_hint="--tls-cert/--tls-key")
    base_url = f"{settings.http_scheme}://{settings.host}:{settings.port}"

    def announce(fs: FirstStart) -> None:
        # The password must never reach a log file: the terminal when stdout is one, else a 0600 file
        # in the data dir (`make run > log` would otherwise put it in the log).
        message = first_start_message(fs, base_url)
        if sys.stdout.isatty():
            sys.stdout.write(message)
        else:
            sys.stdout.write(first_start_notice(write_first_start_file(settings.data_dir, message)))
        sys.stdout.flush()

    if settings.dev:
        sys.stdout.write(DEV_WARNING)
        logging.getLogger("relayroom.serve").warning("development mode (--dev): not for production")
    app = create_app(settings, on_first_start=announce)
    sys.stdout.write(f"RelayRoom serving on {base_url} (data in {settings.data_dir.resolve()})\n")
    sys.stdout.flush()
    # TLS by uvicorn (Python's ssl): the console, the cloud API and /signal (wss) alike
    server = server_config(
        app, settings.host, settings.port, ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key
    )
    pid_file = write_pid_file(settings.data_dir)  # `relayroom node drain` finds this process by it
    try:
        Server(server, app).run()
    finally:
        remove_pid_file(pid_file)
