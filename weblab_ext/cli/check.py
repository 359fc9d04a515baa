"""``flask weblab check``: the configuration and the store, in plain words; exit 1 on a
problem."""

from __future__ import annotations

import importlib.util

import click
from flask.cli import with_appcontext

from ..app_state import LabState
from ..config import redis_url_advice, weak_secrets
from ..context import lab_state
from ..runtime.store_errors import ANY_STORE_ERROR


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Check the configuration and the store; exit 1 with plain-words problems."""
    state = lab_state()
    problems: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    if not state.app.config.get("SECRET_KEY"):
        problems.append("SECRET_KEY is not set: students' session cookies cannot be signed.")
    weak = weak_secrets(state.app.config)
    if state.app.debug or state.app.testing:
        notes.extend(
            f"{line} (tolerated: DEBUG or TESTING is on; never deploy so)" for line in weak
        )
    else:
        problems.extend(weak)
    if not state.app.config.get("SERVER_NAME"):
        notes.append("SERVER_NAME is not set: launch URLs use the host the RLMS called.")
    if state.callbacks.initial_url is None:
        problems.append("No @weblab.initial_url: students get an error after launch.")
    _check_operator_pages(state, notes, warnings)
    if state.embedded_by_default:
        # Outside debug and testing, this is production: gunicorn & co. refuse to serve it.
        (notes if state.app.debug or state.app.testing else problems).append(
            "WEBLAB_REDIS_URL is not set: the embedded store keeps sessions inside "
            "one process (fine for `flask run --debug`; production servers such as gunicorn "
            f"refuse it). For a Redis server: {redis_url_advice()}."
        )
    try:
        info = state.operator.server_info()  # the lab's node
    except ANY_STORE_ERROR as exc:
        problems.append(f"Cannot reach the store at {state.store_label}: {type(exc).__name__}")
    else:
        if info["redis_version"] == "embedded":
            notes.append("Store reachable (the embedded store of this process).")
        else:
            _check_server(info, state.store_label, notes, warnings, problems)
    for note in notes:
        click.echo(f"ok: {note}")
    for warning in warnings:
        click.echo(f"WARNING: {warning}")
    for problem in problems:
        click.echo(f"PROBLEM: {problem}")
    if problems:
        raise click.exceptions.Exit(1)
    click.echo("Everything looks fine." if not warnings else "No problem, but read the warnings.")


def _check_operator_pages(state: LabState, notes: list[str], warnings: list[str]) -> None:
    if not state.settings.admin_username:
        return
    base = state.settings.base_url.rstrip("/")
    notes.append(
        f"The metrics ({base}/weblab/metrics) and the admin page "
        f"({base}/weblab/admin/) are on, behind WEBLAB_ADMIN_USERNAME's credentials."
    )
    if importlib.util.find_spec("prometheus_client") is None:
        warnings.append(
            "prometheus_client is not installed: the metrics endpoint answers 501. "
            "Install it with pip install prometheus-client (or weblab_ext's "
            "metrics extra)."
        )


def _check_server(
    info: dict[str, str], label: str, notes: list[str], warnings: list[str], problems: list[str]
) -> None:
    notes.append(f"Store reachable at {label} (Redis {info['redis_version']}).")
    policy = info["maxmemory_policy"]
    # Every key of a lab has a TTL, so volatile-* policies may evict live sessions too.
    if policy.startswith(("allkeys", "volatile")):
        problems.append(
            f"Redis maxmemory-policy is {policy}: when memory runs out it may evict live "
            "sessions and tasks; use noeviction (writes then fail loudly instead)."
        )
    if info["aof_enabled"] == "0":
        warnings.append(
            "Redis has AOF persistence off (appendonly no): if Redis crashes or is killed, "
            "every session and task acknowledged since its last snapshot is lost. Set "
            "`appendonly yes` and `appendfsync everysec` (see the operations guide)."
        )
    elif info["aof_enabled"] == "1":
        fsync = info["appendfsync"]
        if fsync == "no":
            warnings.append(
                "Redis appendfsync is no: the OS decides when the AOF reaches "
                "the disk; use everysec."
            )
        else:
            notes.append(f"Redis persists with AOF (appendfsync {fsync or 'unknown'}).")
