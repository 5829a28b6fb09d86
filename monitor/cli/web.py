"""`monitor serve` (the nurses' worklist) and `monitor user add|password|disable|enable`."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor import clock
from monitor.cli.context import AppState, cli_actor, reports_errors, state
from monitor.cli.root import command_group
from monitor.errors import InvalidInput
from monitor.log import configure_logging
from monitor.services.people.users import add_user, change_password, set_active

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from starlette.types import ASGIApp

    from monitor.config import Config

CONFIG_VARIABLE = "MONITOR_CONFIG"
DATABASE_VARIABLE = "MONITOR_DATABASE_URL"

log = logging.getLogger("monitor.web")
user_app = command_group("Worklist accounts.", no_args_is_help=True)


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]


Workers = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        metavar="<int>",
        help="worker processes sharing the port (each keeps its own lists, checked "
        "against the database on every page)",
    ),
]


@reports_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="default [web] host")] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, metavar="<int>", help="default [web] port"),
    ] = None,
    workers: Workers = 1,
) -> None:
    """Serve the nurses' worklist (sign in with an account from `monitor user add`)."""
    import uvicorn

    app_state = state(ctx)
    config = app_state.config
    configure_logging(config.logging)
    engine = app_state.engine()  # refuses an old schema before any worker starts
    bind_host, bind_port = host or config.web.host, port or config.web.port
    # No access log: page paths carry MRNs, and log lines never carry patient identifiers.
    # log_config=None: uvicorn's own logging set-up would replace the policy of monitor.log.
    options: dict[str, Any] = {
        "host": bind_host,
        "port": bind_port,
        "access_log": False,
        "log_config": None,
        "log_level": config.logging.level.lower(),
        "proxy_headers": False,
    }
    if workers == 1:
        app = worklist_app(config, engine)
        log.info("serving the worklist on http://%s:%d", bind_host, bind_port)
        uvicorn.run(app, **options)
        return
    # Workers are fresh processes (uvicorn spawns them) that build the app from an import
    # string: they find this command's configuration and database in the environment.
    engine.dispose()
    if app_state.config_path is not None:
        os.environ[CONFIG_VARIABLE] = str(app_state.config_path.resolve())
    os.environ[DATABASE_VARIABLE] = app_state.url
    log.info("serving the worklist on http://%s:%d, %d workers", bind_host, bind_port, workers)
    uvicorn.run(WORKER_APP, factory=True, workers=workers, **options)


def worklist_app(config: Config, engine: Engine) -> ASGIApp:
    """The app as served: its Today lists computed before it takes a request (so no nurse
    waits for the first page of the day's whole clinic), wrapped in `QuietErrors`."""
    from monitor.web.app import QuietErrors, create_app, warm_worklist

    app = create_app(config, engine)
    warm_worklist(app)
    return QuietErrors(app)


def worker_app() -> ASGIApp:
    """One worker process's app (`WORKER_APP`): the configuration and database `serve` put in
    the environment, the same logging policy."""
    app_state = AppState()
    configure_logging(app_state.config.logging)
    return worklist_app(app_state.config, app_state.engine())


WORKER_APP = f"{__name__}:worker_app"


@user_app.command("add")
@reports_errors
def user_add(
    ctx: typer.Context,
    name: str,
    role: Annotated[str, typer.Option("--role", help="nurse or admin")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a worklist account (the password is prompted for twice, or read from stdin)."""
    password = _read_password(password_stdin)
    with state(ctx).session() as session:
        add_user(
            session, name=name, role=role, password=password, actor=cli_actor(), now=clock.now_utc()
        )
    typer.echo(f"added {role} {name.strip()}")


@user_app.command("password")
@reports_errors
def user_password(
    ctx: typer.Context,
    name: str,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password; every session of the account ends and a lock is lifted."""
    password = _read_password(password_stdin)
    with state(ctx).session() as session:
        change_password(
            session, name=name, password=password, actor=cli_actor(), now=clock.now_utc()
        )
    typer.echo(f"new password for {name.strip()}; its sessions have ended")


@user_app.command("disable")
@reports_errors
def user_disable(ctx: typer.Context, name: str) -> None:
    """Disable an account: it cannot sign in, and its open sessions end at once."""
    _set_active(ctx, name, active=False)
    typer.echo(f"disabled {name.strip()}; its sessions have ended")


@user_app.command("enable")
@reports_errors
def user_enable(ctx: typer.Context, name: str) -> None:
    """Enable a disabled account again (it signs in anew: old sessions stay ended)."""
    _set_active(ctx, name, active=True)
    typer.echo(f"enabled {name.strip()}")


def _set_active(ctx: typer.Context, name: str, *, active: bool) -> None:
    with state(ctx).session() as session:
        set_active(session, name=name, active=active, actor=cli_actor(), now=clock.now_utc())


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("no password on standard input")
        return password
    entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(user_app, name="user")
