"""The RLMS profiles: how each real client of the lab protocol behaves, as plain data.

A profile says which URL prefix and request shapes a client uses, how it formats values, and
how its status and dispose loops decide. The client code reads
only these fields, so a variant is a :func:`dataclasses.replace` away:

.. code-block:: python

    import dataclasses
    from weblab_ext.rlms import PROFILES, RLMSClient

    fixed = dataclasses.replace(PROFILES["weblabdeusto"], data_bug=False)
    client = RLMSClient(url="http://localhost:5000", profile=fixed)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from .errors import RLMSConfigError

Dialect = Literal["weblabdeusto", "labdiscoveryengine", "ldl"]


@dataclass(frozen=True)
class RLMSProfile:
    """One real RLMS client, described by what a lab server can observe of it.

    :param name: the key of the profile in :data:`PROFILES`.
    :param dialect: which start body, reply reading and loops apply: ``"weblabdeusto"``
        (flat keys, WebLab-Deusto loops), ``"labdiscoveryengine"`` (flat keys with LDE value
        formats, LDE loops) or ``"ldl"`` (nested labdiscoverylib schema, LDE loops).
    :param prefix: path between the lab URL and ``/sessions/``.
    :param description: one line for humans.
    :param probe_api: call ``/api`` then ``/test`` before the first start.
    :param initial_data_as_strings: send both initial-data objects as JSON strings (API "0").
    :param modern_keys: send ``.start.utc``, ``.start.timestamp``, ``.start.timezone`` and
        ``weblab_reservation_id`` (WebLab-Deusto since 2019/2021).
    :param accept: ``Accept`` header value, or ``None`` for no header.
    :param verify_tls: verify HTTPS certificates.
    :param keep_trailing_slash: join ``url + prefix`` verbatim, so ``http://h/`` gives ``//``.
    :param tolerant_bodies: map the literal bodies ``ok``, ``""`` and ``deleted`` to ``{}`` for
        ``/api``, ``/test`` and dispose.
    :param require_json_content_type: refuse replies not labelled ``application/json``.
    :param data_bug: WebLab-Deusto's dispose bug: a non-``None`` ``data`` in the dispose
        reply is written into the ``finished`` slot.
    :param status_idle_wait: seconds to wait after ``should_finish`` 0 or missing; ``None``
        means 0 stops the status loop for good.
    :param status_max_wait: cap on the wait after a positive ``should_finish``.
    :param status_error_delay: seconds to wait after a failed status call.
    :param status_error_retries: failed status calls tolerated in a row before the error is
        raised; ``None`` retries for as long as the loop runs.
    :param dispose_method: ``"POST"`` (body ``{"action": "delete"}``) or ``"DELETE"``.
    :param dispose_default_wait: seconds between dispose calls when the reply names none.
    :param dispose_max_wait: cap on the wait between dispose calls (``None``: no cap).
    :param dispose_max_calls: dispose calls before failing closed with
        :class:`~weblab_ext.rlms.errors.DisposeNotFinished`; ``None`` never gives up.
    """

    name: str
    dialect: Dialect
    prefix: str
    description: str
    probe_api: bool = False
    initial_data_as_strings: bool = False
    modern_keys: bool = True
    accept: str | None = None
    verify_tls: bool = True
    keep_trailing_slash: bool = False
    tolerant_bodies: bool = False
    require_json_content_type: bool = False
    data_bug: bool = False
    status_idle_wait: float | None = None
    status_max_wait: float | None = None
    status_error_delay: float = 5.0
    status_error_retries: int | None = None
    dispose_method: Literal["POST", "DELETE"] = "POST"
    dispose_default_wait: float = 0.5
    dispose_max_wait: float | None = None
    dispose_max_calls: int | None = None

    @property
    def is_lde(self) -> bool:
        """``True`` for the two LabDiscoveryEngine dialects (same loops, same reply reading)."""
        return self.dialect != "weblabdeusto"


_WLD = RLMSProfile(
    name="weblabdeusto",
    dialect="weblabdeusto",
    prefix="/weblab",
    description="WebLab-Deusto HttpExperiment today (2021+): all keys, Py2 string values",
    probe_api=True,
    accept="application/json,text/html",
    verify_tls=False,
    keep_trailing_slash=True,
    tolerant_bodies=True,
    data_bug=True,
)

_LDE = RLMSProfile(
    name="labdiscoveryengine",
    dialect="labdiscoveryengine",
    prefix="/weblab",
    description="LabDiscoveryEngine speaking the weblablib dialect (aiohttp, Python 3)",
    accept="*/*",
    require_json_content_type=True,
    status_idle_wait=10.0,
    status_max_wait=10.0,
    status_error_delay=1.0,
    status_error_retries=3,
    dispose_default_wait=1.0,
    dispose_max_wait=30.0,
    dispose_max_calls=60,
)

#: Every profile by name. Iterate over it to run a test against each real client.
PROFILES: Mapping[str, RLMSProfile] = MappingProxyType(
    {
        p.name: p
        for p in (
            _WLD,
            RLMSProfile(
                name="weblabdeusto-2017",
                dialect="weblabdeusto",
                prefix="/weblab",
                description="WebLab-Deusto before 2019: local-time start only, no Accept, "
                "certificates verified",
                probe_api=True,
                modern_keys=False,
                keep_trailing_slash=True,
                tolerant_bodies=True,
                data_bug=True,
            ),
            RLMSProfile(
                name="weblabdeusto-api0",
                dialect="weblabdeusto",
                prefix="/weblab",
                description="WebLab-Deusto with http_experiment_api = '0': no probing, "
                "initial data as JSON strings",
                initial_data_as_strings=True,
                accept=_WLD.accept,
                verify_tls=False,
                keep_trailing_slash=True,
                tolerant_bodies=True,
                data_bug=True,
            ),
            _LDE,
            RLMSProfile(
                name="ldl",
                dialect="ldl",
                prefix="/ldl",
                description="LabDiscoveryEngine speaking labdiscoverylib: nested schema, "
                "DELETE to dispose",
                accept=_LDE.accept,
                require_json_content_type=True,
                status_idle_wait=10.0,
                status_max_wait=10.0,
                status_error_delay=1.0,
                status_error_retries=3,
                dispose_method="DELETE",
                dispose_default_wait=1.0,
                dispose_max_wait=30.0,
                dispose_max_calls=60,
            ),
        )
    }
)

#: Short names of the profiles (``wld-2017``, ``lde-ldl``...), accepted wherever a name is.
PROFILE_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "wld-2021": "weblabdeusto",
        "wld-2017": "weblabdeusto-2017",
        "wld-api0": "weblabdeusto-api0",
        "lde-weblablib": "labdiscoveryengine",
        "lde-ldl": "ldl",
    }
)


def get_profile(profile: str | RLMSProfile) -> RLMSProfile:
    """Return the profile named ``profile`` (or ``profile`` itself when it is one).

    :param profile: a key of :data:`PROFILES`, an alias of :data:`PROFILE_ALIASES`, or a profile.
    :raises RLMSConfigError: the name is unknown.
    """
    if isinstance(profile, RLMSProfile):
        return profile
    name = PROFILE_ALIASES.get(profile, profile)
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise RLMSConfigError(f"unknown RLMS profile {profile!r}; use one of: {known}") from None
