"""``flask weblab fake new|status|dispose|health``: act as the RLMS against a running lab.

``fake new`` calls the lab over real HTTP with :class:`weblab_ext.rlms.RLMSClient`, exactly as
the RLMS profile given with ``--profile`` does, so the lab must be running (``flask run``).
The session id is kept in ``<instance folder>/weblab_fake_session.json`` (never in the working
directory) for ``fake status`` and ``fake dispose``.
"""

from __future__ import annotations

import json
import os
import time
import webbrowser
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import current_app
from flask.cli import AppGroup

from ..config import redis_url_advice
from ..context import lab_state
from ..protocol import printable
from ..protocol.status import should_finish
from ..rlms import RLMSConnectionError, RLMSError, RLMSHTTPError
from ..runtime.store_errors import ANY_STORE_ERROR
from .devices import device_option, device_url
from .fake_client import (
    error_message,
    make_client,
    reply_of,
    rlms_options,
    target_options,
    tls_refused,
    unreachable,
)

#: File name, inside the app's instance folder, of the fake session.
SESSION_FILE_NAME = "weblab_fake_session.json"
_NOT_FOUND = "Session not found. Did you call 'flask weblab fake new' first?"
_DEFAULT_SERVER_NAME = "localhost:5000"

fake_group = AppGroup("fake", help="Act as the RLMS: start, inspect and end a development session.")


def session_file() -> Path:
    """Return the path of the fake-session file of the current app."""
    return Path(current_app.instance_path) / SESSION_FILE_NAME


def default_lab_url() -> str:
    """Return the lab's own external base URL, from ``SERVER_NAME`` (or the environment)."""
    server_name = (
        current_app.config.get("SERVER_NAME")
        or os.environ.get("SERVER_NAME")
        or _DEFAULT_SERVER_NAME
    )
    scheme = (
        current_app.config.get("WEBLAB_SCHEME")
        or current_app.config.get("PREFERRED_URL_SCHEME")
        or "http"
    )
    base = lab_state().settings.base_url.rstrip("/")
    return f"{scheme}://{server_name}{base}"


def _start_failed(message: str, reply: dict[str, Any]) -> NoReturn:
    click.echo(f"Error processing request: {printable(message)}")
    if reply.get("detail"):
        click.echo(f"  {printable(reply['detail'])}")
    elif reply.get("code") == "on-start-failed":
        # The lab sends the exception text only in debug mode: never to a real RLMS.
        click.echo(
            "  on_start raised an exception: the lab's log shows it (run the lab with "
            "`flask run --debug` to see it here too)"
        )
    raise click.exceptions.Exit(1)


def _check_visible(session_id: str, lab_url: str) -> None:
    """Warn when the session just started is not in this app's store: the URL may serve
    another lab, or the lab and this command do not share a store."""
    state = lab_state()
    try:
        if state.service.load(session_id) is not None:
            return
    except ANY_STORE_ERROR:
        pass
    click.echo("")
    if state.embedded_by_default:
        click.echo(
            "Note: this command has its own embedded store (WEBLAB_REDIS_URL is not "
            "set), so it cannot see the session, which lives in the lab's process: "
            "`fake status` shows an anonymous user (the RLMS calls still work). To "
            f"share one store: {redis_url_advice()}."
        )
        return
    click.echo(
        f"Warning: the session is not in this app's store ({state.store_label}, "
        f"WEBLAB_REDIS_BASE {state.settings.redis_base!r}): the server at {lab_url} is "
        "another lab, or it uses another store. Check --url, WEBLAB_REDIS_URL and "
        "WEBLAB_REDIS_BASE."
    )


def _read_initial_data(text: str, path: str | None) -> dict[str, Any]:
    source, label = text, text
    if path is not None:
        label = path
        try:
            source = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            click.echo(f"Error reading {label}: {error}")
            return {}
    try:
        data = json.loads(source)
    except ValueError as error:
        click.echo(f"Error reading {label}: {error}")
        return {}
    if not isinstance(data, dict):
        click.echo(f"Error reading {label}: a JSON object is expected")
        return {}
    return data


@fake_group.command("new")
@click.option("--name", default="John Smith", help="Full name of the student.")
@click.option("--username", default="john.smith", help="Login of the student.")
@click.option("--username-unique", default="john.smith@institution", help="Globally unique login.")
@click.option("--assigned-time", type=int, default=300, help="Slot length in seconds.")
@click.option(
    "--back",
    default="",
    show_default="none: the lab shows its own 'session ended' page",
    help="URL the student goes to when the session ends (the RLMS's page).",
)
@click.option("--locale", default="en", help="Language of the student.")
@click.option("--experiment-name", default="mylab", help="Experiment name.")
@click.option("--category-name", default="Lab Experiments", help="Experiment category.")
@click.option("--dont-open-browser", is_flag=True, help="Do not open the launch URL.")
@click.option("--client-initial-data", default="{}", help="client_initial_data as JSON text.")
@click.option(
    "--client-initial-data-file",
    default=None,
    help="File with client_initial_data as JSON (wins over the text option).",
)
@rlms_options
@device_option
def fake_new(
    name: str,
    username: str,
    username_unique: str,
    assigned_time: int,
    back: str,
    locale: str,
    experiment_name: str,
    category_name: str,
    dont_open_browser: bool,
    client_initial_data: str,
    client_initial_data_file: str | None,
    profile: str | None,
    url: str | None,
    insecure: bool,
    force_noauth: bool,
    fail_if_noauth: bool,
    device: str | None,
) -> None:
    """Start a session in the running lab, as the RLMS would."""
    client_data = _read_initial_data(client_initial_data, client_initial_data_file)
    lab_url = device_url(url or default_lab_url(), device, lab_state().settings.devices)
    profile_name = profile or "weblabdeusto"
    client = make_client(lab_url, profile_name, insecure, force_noauth, fail_if_noauth)
    # The real WebLab-Deusto sends the login as the full name; a developer passing --name
    # wants to see it, so it is put back (the flat dialects merge server_extra last).
    extra = None if client.profile.dialect == "ldl" else {"request.full_name": name}
    click.echo(f"Starting a session in the lab at {lab_url} (as {profile_name} does)...")
    started_at = time.monotonic()
    try:
        session = client.start(
            username=username,
            full_name=name,
            username_unique=username_unique,
            locale=locale,
            experiment_name=experiment_name,
            category_name=category_name,
            slot_length=assigned_time,
            back=back,
            client_data=client_data,
            server_extra=extra,
        )
    except RLMSConnectionError as error:
        unreachable(lab_url, error)
    except RLMSError as error:
        _start_failed(error_message(error), reply_of(error))
    finally:
        client.close()
    if session.reply.get("error"):  # WebLab-Deusto profiles do not raise on it
        _start_failed(str(session.reply.get("message")), session.reply)
    elapsed = time.monotonic() - started_at
    _write_private(
        session_file(),
        json.dumps(
            {
                "session_id": session.session_id,
                "url": session.url,
                "lab_url": lab_url,
                "profile": profile_name,
            }
        ),
    )
    click.echo("")
    click.echo(f"Congratulations! The session is started [in {elapsed:.2f} seconds]")
    click.echo(f"Open: {session.url}")
    click.echo(f"Session identifier: {session.session_id}")
    click.echo("")
    click.echo("The link opens the lab in one browser only (WEBLAB_LAUNCH_ONCE).")
    click.echo("Run 'flask weblab fake status' to see how the lab answers the RLMS.")
    click.echo("Run 'flask weblab fake dispose' to end the session.")
    _check_visible(session.session_id, lab_url)
    if not dont_open_browser:
        webbrowser.open(session.url)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (it names a live session)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # A file left by an older version keeps its mode on open: tighten it too.
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _load_session() -> dict[str, Any] | None:
    path = session_file()
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) and "session_id" in stored else None


def _echo_user(session_id: str) -> Any:
    service = lab_state().service
    record = service.load(session_id)
    click.echo(printable(service.user_of(record)))
    return record


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@fake_group.command("status")
@rlms_options
def fake_status(
    profile: str | None, url: str | None, insecure: bool, force_noauth: bool, fail_if_noauth: bool
) -> None:
    """Show the fake session's user and what the lab answers to the RLMS status call."""
    stored = _load_session()
    if stored is None:
        click.echo(_NOT_FOUND)
        return
    session_id = stored["session_id"]
    record = _echo_user(session_id)
    lab_url = url or stored.get("lab_url") or default_lab_url()
    profile_name = profile or stored.get("profile") or "weblabdeusto"
    client = make_client(lab_url, profile_name, insecure, force_noauth, fail_if_noauth)
    try:
        click.echo(f"Should finish: {_format_seconds(client.status(session_id))}")
        return
    except RLMSConnectionError as error:
        if tls_refused(error):
            unreachable(lab_url, error)
        # the lab is not running: answer as it would from the shared store
    except RLMSHTTPError as error:
        # e.g. 401 with --force-noauth: what the lab answered is what the developer wants
        click.echo(f"Error processing request: {printable(error_message(error))}")
        raise click.exceptions.Exit(1) from None
    finally:
        client.close()
    state = lab_state()
    value = should_finish(
        state=None if record is None else record.state,
        max_date=None if record is None else record.max_date,
        last_poll=None if record is None else record.last_poll,
        now=state.clock(),
        timeout=state.timeout,
        poll_interval=state.poll_interval,
    )
    click.echo(f"Should finish: {value} (computed locally: the lab is not reachable)")


@fake_group.command("dispose")
@rlms_options
def fake_dispose(
    profile: str | None, url: str | None, insecure: bool, force_noauth: bool, fail_if_noauth: bool
) -> None:
    """End the fake session, as the RLMS does when the slot is over."""
    stored = _load_session()
    if stored is None:
        click.echo(_NOT_FOUND)
        return
    session_id = stored["session_id"]
    _echo_user(session_id)
    lab_url = url or stored.get("lab_url") or default_lab_url()
    profile_name = profile or stored.get("profile") or "weblabdeusto"
    client = make_client(lab_url, profile_name, insecure, force_noauth, fail_if_noauth)
    click.echo(
        f"Ending the session at {lab_url}: waiting for the lab's on_dispose (up to "
        f"{lab_state().settings.dispose_wait:g} s)..."
    )
    try:
        outcome = client.dispose(session_id)
    except RLMSConnectionError as error:
        unreachable(lab_url, error)
    except RLMSError as error:
        click.echo(f"Error processing request: {printable(error_message(error))}")
        raise click.exceptions.Exit(1) from None
    finally:
        client.close()
    if isinstance(outcome.error, RLMSConnectionError):  # WebLab-Deusto swallows it
        unreachable(lab_url, outcome.error)
    if outcome.error is not None:
        click.echo(f"Error processing request: {printable(error_message(outcome.error))}")
        raise click.exceptions.Exit(1)
    if not outcome.finished:
        click.echo(
            f"{outcome.reply.get('message', 'Disposing')}: the lab is still releasing "
            "resources; run 'flask weblab fake dispose' again"
        )
        return
    session_file().unlink(missing_ok=True)
    click.echo(printable(str(outcome.reply.get("message", "Deleted"))))


@fake_group.command("health")
@target_options
@device_option
def fake_health(profile: str | None, url: str | None, insecure: bool, device: str | None) -> None:
    """Read the health URL as LabDiscoveryEngine does (no credentials); exit 1 unless
    ``success`` is true, when that RLMS would mark the resource broken."""
    lab_url = device_url(url or default_lab_url(), device, lab_state().settings.devices)
    client = make_client(lab_url, profile or "labdiscoveryengine", insecure, True, False)
    try:
        reading = client.health()
    finally:
        client.close()
    verdict = "available" if reading.success else "marked broken: no student is sent there"
    click.echo(f"{reading.url}: success {str(reading.success).lower()} ({verdict})")
    if reading.message:
        click.echo(f"  message: {printable(reading.message)}")
    for field in ("state", "since", "checked_at"):
        if field in reading.reply:
            click.echo(f"  {field}: {printable(str(reading.reply[field]))}")
    if not reading.success:
        raise click.exceptions.Exit(1)


__all__ = ["SESSION_FILE_NAME", "default_lab_url", "fake_group", "session_file"]
