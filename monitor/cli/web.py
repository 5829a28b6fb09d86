"""`monitor serve` (the nurses' worklist) and `monitor user add|password|disable|enable`."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from monitor import clock
from monitor.cli.context import cli_actor, reports_errors, state
from monitor.cli.root import command_group
from monitor.errors import InvalidInput
from monitor.log import configure_logging
from monitor.services.people.users import add_user, change_password, set_active

log = logging.getLogger("monitor.web")
user_app = command_group("Worklist accounts.", no_args_is_help=True)


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]


@reports_errors
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="default [web] host")] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, metavar="<int>", help="default [web] port"),
    ] = None,
) -> None:
    """Serve the nurses' worklist (sign in with an account from `monitor user add`)."""
    import uvicorn

    from monitor.web.app import QuietErrors, create_app

    app_state = state(ctx)
    config = app_state.config
    configure_logging(config.logging)
    app = create_app(config, app_state.engine())
    bind_host, bind_port = host or config.web.host, port or config.web.port
    log.info("serving the worklist on http://%s:%d", bind_host, bind_port)
    # No access log: page paths carry MRNs, and log lines never carry patient identifiers.
    # log_config=None: uvicorn's own logging set-up would replace the policy of monitor.log.
    uvicorn.run(
        QuietErrors(app),
        host=bind_host,
        port=bind_port,
        access_log=False,
        log_config=None,
        log_level=config.logging.level.lower(),
        proxy_headers=False,
    )


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
