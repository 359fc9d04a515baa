"""What the ``flask weblab fake`` commands share: their RLMS options, the client they build
from the app's config, and how they report a failed call.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, NoReturn

import click
from flask import current_app

from ..rlms import (
    PROFILES,
    LabStartFailed,
    RequestsTransport,
    RLMSClient,
    RLMSConnectionError,
    RLMSCredentialsError,
    RLMSError,
    RLMSHTTPError,
    get_profile,
)

_profile_option = click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default=None,
    help="RLMS client to imitate (default: weblabdeusto, or the one `fake new` used).",
)
_url_option = click.option(
    "--url",
    default=None,
    help="Lab base URL (default: http://<SERVER_NAME>, e.g. http://localhost:5000).",
)
_insecure_option = click.option(
    "--insecure",
    is_flag=True,
    help="Do not verify the lab's TLS certificate (a development server's self-signed one). "
    "Without it the certificate is checked, whatever the RLMS profile does.",
)
_force_noauth_option = click.option(
    "--force-noauth",
    is_flag=True,
    help="Send no credentials, even though WEBLAB_USERNAME and WEBLAB_PASSWORD are set: "
    "see how the lab answers a caller without them.",
)
_fail_if_noauth_option = click.option(
    "--fail-if-noauth",
    is_flag=True,
    help="Stop with an error, sending nothing, unless WEBLAB_USERNAME and WEBLAB_PASSWORD "
    "are both set (instead of calling the lab without credentials).",
)


def rlms_options(command: Any) -> Any:
    """The options every ``fake`` command has: profile, URL, TLS and credentials."""
    for option in (
        _fail_if_noauth_option,
        _force_noauth_option,
        _insecure_option,
        _url_option,
        _profile_option,
    ):
        command = option(command)
    return command


def target_options(command: Any) -> Any:
    """The options of a call that carries no credentials (``fake health``): profile, URL, TLS."""
    for option in (_insecure_option, _url_option, _profile_option):
        command = option(command)
    return command


def make_client(
    url: str, profile: str, insecure: bool, force_noauth: bool, fail_if_noauth: bool
) -> RLMSClient:
    """A client of the lab at ``url`` with the app's ``WEBLAB_USERNAME``/``WEBLAB_PASSWORD``
    (its only source of credentials), no retries; close it after use.

    :raises click.ClickException: ``fail_if_noauth`` and the config lacks a credential.
    """
    config = current_app.config
    # The fake sends the lab's real credentials: it checks the certificate even when the
    # RLMS it imitates does not (WebLab-Deusto skips the check), unless told otherwise.
    checked = dataclasses.replace(get_profile(profile), verify_tls=not insecure)
    if force_noauth and fail_if_noauth:
        raise click.UsageError("--force-noauth and --fail-if-noauth exclude each other")
    # Explicit everything: the developer's WEBLAB_URL/.env/.netrc must not redirect the call,
    # and an unreachable lab must fail at once instead of after retries.
    try:
        return RLMSClient(
            url=url,
            username=config.get("WEBLAB_USERNAME") or None,
            password=config.get("WEBLAB_PASSWORD") or None,
            profile=checked,
            transport=RequestsTransport(retries=0),
            force_noauth=force_noauth,
            fail_if_noauth=fail_if_noauth,
            environ={},
            dotenv_path=os.devnull,
            netrc_path=os.devnull,
        )
    except RLMSCredentialsError:
        raise click.ClickException(
            "--fail-if-noauth: the app's config does not set both WEBLAB_USERNAME and "
            "WEBLAB_PASSWORD, so there are no credentials to send; nothing was sent."
        ) from None


def tls_refused(error: RLMSConnectionError) -> bool:
    """Whether the call failed on the lab's TLS certificate."""
    return "certificate" in error.reason.lower()


def unreachable(url: str, error: RLMSConnectionError) -> NoReturn:
    """Stop the command with what to do about a lab that could not be reached."""
    if tls_refused(error):
        raise click.ClickException(
            f"The TLS certificate of {url} could not be verified ({error.reason}); nothing was "
            "sent. Fix the certificate, or pass --insecure for a development server you trust."
        )
    raise click.ClickException(
        f"The lab is not reachable at {url}: start it with `flask run` (in another terminal) "
        f"or pass --url with the address it listens on ({error.reason})"
    )


def reply_of(error: RLMSError) -> dict[str, Any]:
    """The lab's JSON reply carried by ``error`` (``{}`` if none)."""
    if isinstance(error, LabStartFailed):
        return error.reply
    if isinstance(error, RLMSHTTPError):
        try:
            reply = json.loads(error.body)
        except ValueError:
            reply = None
        return reply if isinstance(reply, dict) else {}
    return {}


def error_message(error: RLMSError) -> str:
    """One line saying what the lab answered."""
    reply = reply_of(error)
    if isinstance(error, LabStartFailed):
        return str(reply.get("message") or reply.get("error"))
    if isinstance(error, RLMSHTTPError):
        if reply.get("message"):
            return f"{reply['message']} (HTTP {error.status})"
        return f"HTTP {error.status}: {error.body[:200]}"
    return str(error)


__all__ = [
    "error_message",
    "make_client",
    "reply_of",
    "rlms_options",
    "target_options",
    "tls_refused",
    "unreachable",
]
