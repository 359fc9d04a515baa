"""The table of every ``WEBLAB_*`` key: its default, its validator and what it means.

:mod:`.settings` validates an app's config against it into a frozen ``Settings``.
"""

from __future__ import annotations

from .option import Option, as_given
from .parsers import (
    device_names,
    flag,
    index_mode,
    non_negative_int,
    optional_flag,
    optional_text,
    positive_int,
    redis_url,
    scheme,
    seconds_at_least,
    seconds_value,
    text,
)

#: The table of every key. Defaults match the library weblab_ext replaces unless noted.
OPTIONS: tuple[Option, ...] = (
    Option(
        "WEBLAB_USERNAME",
        None,
        text,
        "Username the RLMS sends with HTTP Basic authentication on every call to the lab "
        "(WebLab-Deusto's `http_experiment_username`).",
        required=True,
    ),
    Option(
        "WEBLAB_PASSWORD",
        None,
        text,
        "Password the RLMS sends with HTTP Basic authentication, compared in constant time "
        "(WebLab-Deusto's `http_experiment_password`).",
        required=True,
    ),
    Option(
        "WEBLAB_BASE_URL",
        None,
        optional_text,
        "Path prefix of the RLMS endpoints: with `/lab1` the RLMS calls "
        "`/lab1/weblab/sessions/` and `/lab1/ldl/sessions/`. The `base_url` argument of "
        "`WebLab()` wins over it.",
    ),
    Option(
        "WEBLAB_CALLBACK_URL",
        "/callback",
        as_given,
        "Path prefix of the student routes: the launch URL is `<prefix>/<session id>`, "
        "with `/poll` and `/logout` below it. The `callback_url` argument of `WebLab()` "
        "wins over it; an empty value is refused.",
        type="string",
    ),
    Option(
        "WEBLAB_SESSION_ID_NAME",
        "weblab_session_id",
        text,
        "Key, inside Flask's signed session cookie, under which the student's lab session "
        "id is kept.",
    ),
    Option(
        "WEBLAB_REDIS_URL",
        None,
        redis_url,
        "Where sessions and tasks are stored: `redis://`, `rediss://`, `unix://`, a Redis "
        "Cluster as `redis+cluster://host:port[,host:port...]` (`rediss+cluster://` for "
        "TLS), a Sentinel-managed master as "
        "`redis+sentinel://host:port[,host:port...]/<service>[/db]`, or "
        "`fakeredis://NAME`. Unset, an embedded in-process store is used, which only one "
        "process sees: fine for `flask run`, wrong for several workers, and "
        "`flask weblab loop` refuses it. Clients get a 10 s socket timeout "
        "(`?socket_timeout=N` in the URL changes it) and a 5 s connect timeout, whatever "
        "redis-py's defaults.",
    ),
    Option(
        "WEBLAB_REDIS_BASE",
        "lab",
        text,
        "Prefix of every Redis key of this lab (`{<base>}:weblab:...`), so that several "
        "labs can share one Redis server.",
    ),
    Option(
        "WEBLAB_TASK_EXPIRES",
        3600,
        seconds_at_least(1),
        "Seconds a task's record (status, progress, result) is kept after the task ends; "
        "also how long a queued task waits for a worker before it is dropped.",
    ),
    Option(
        "WEBLAB_TIMEOUT",
        15,
        seconds_value,
        "Seconds without a poll after which a student counts as gone and the session "
        "ends. `0` or less turns the inactivity timeout off. The poll script polls every "
        "half of this.",
    ),
    Option(
        "WEBLAB_AUTOPOLL",
        True,
        flag,
        "Whether every request of a student with a session counts as a poll (at no extra "
        "store round trip). Off, only the poll URL and `poll()` count.",
    ),
    Option(
        "WEBLAB_POLL_INTERVAL",
        5,
        seconds_at_least(0),
        "Largest `should_finish` a status reply gives, i.e. the most seconds the RLMS "
        "waits before asking again. `0` tells the RLMS not to ask again.",
    ),
    Option(
        "WEBLAB_CLEANER_INTERVAL",
        5,
        seconds_at_least(0.01),
        "Seconds the expiry cleaner waits after a pass that left nothing due. The cleaner "
        "disposes the sessions whose slot is over, whose student logged out or stopped "
        "polling; a pass goes on while sessions are due.",
    ),
    Option(
        "WEBLAB_UNAUTHORIZED_LINK",
        None,
        optional_text,
        "URL that anonymous visitors of a protected view are redirected to (for example "
        "the RLMS's booking page) instead of the forbidden page.",
    ),
    Option(
        "WEBLAB_UNAUTHORIZED_TEMPLATE",
        None,
        optional_text,
        "Template rendered (HTTP 200) for anonymous visitors of a protected view when "
        "`WEBLAB_UNAUTHORIZED_LINK` is not set.",
    ),
    Option(
        "WEBLAB_SCHEME",
        None,
        scheme,
        "Scheme forced in the launch URL the lab returns to the RLMS, for a lab behind a "
        "proxy that terminates HTTPS. Unset, the scheme of the RLMS's request is used.",
        type="'http', 'https' or None",
    ),
    Option(
        "WEBLAB_EXPIRED_USERS_TIMEOUT",
        3600,
        seconds_at_least(1),
        "Seconds the record of a disposed session is kept, so that a student who comes "
        "back to the lab page is recognised as an expired user and sent back to the RLMS.",
    ),
    Option(
        "WEBLAB_AUTOCLEAN_THREAD",
        True,
        flag,
        "Whether this process runs the expiry cleaner in a background thread. Turn it off "
        "in web processes when `flask weblab loop` workers run the cleaner.",
    ),
    Option(
        "WEBLAB_TASK_THREADS_PROCESS",
        3,
        non_negative_int,
        "Number of task-runner threads each process starts at its first request. `0` runs "
        "no task in this process (leave them to `flask weblab loop`).",
    ),
    Option(
        "WEBLAB_NO_THREAD",
        False,
        flag,
        "Start no background thread at all: no cleaner, no task runner, no heartbeat. It "
        "cannot be combined with an explicit `WEBLAB_AUTOCLEAN_THREAD=True` or "
        "`WEBLAB_TASK_THREADS_PROCESS > 0`.",
    ),
    Option(
        "WEBLAB_LOG_SESSION_LIFECYCLE",
        True,
        flag,
        "Whether session starts, refusals, logouts and disposals are logged as one-line "
        "JSON events on the `weblab_ext.lifecycle` logger. Session ids appear only as a "
        "hash; names and back URLs never.",
    ),
    Option(
        "WEBLAB_REDIS_INDEX_MODE",
        "legacy",
        index_mode,
        "Accepted for compatibility with weblablib 0.5.9 (`shadow` and `indexed` need "
        "`WEBLAB_REDIS_INDEX_EPOCH`). weblab_ext always uses its own indexes, whatever the "
        "value.",
        type="'legacy', 'shadow' or 'indexed'",
    ),
    Option(
        "WEBLAB_REDIS_INDEX_EPOCH",
        None,
        as_given,
        "Accepted for compatibility with weblablib 0.5.9 and otherwise unused.",
        type="any",
    ),
    # weblab_ext additions
    Option(
        "WEBLAB_DISPOSE_WAIT",
        5,
        seconds_at_least(0),
        "Seconds an RLMS dispose call waits for `on_dispose` and the session's tasks to "
        'finish before it answers "not finished, ask again".',
    ),
    Option(
        "WEBLAB_DISPOSE_MAX",
        300,
        seconds_at_least(0.1),
        "Seconds a clean-up (`on_dispose`, then the session's tasks, stopped) may take. "
        'Until it ends the RLMS hears "not finished, ask again"; one still running then '
        "(a task ignoring its stop flag), or whose `on_dispose` raised, is reported finished "
        "and leaves the session's device `broken` until a reset returns (without devices it "
        "is logged as an error). The default leaves a slow hardware clean-up (reprogramming "
        "an FPGA, homing an arm: a minute or two) room to finish, and stays well under the "
        "10 minutes after which a disposal is taken for abandoned.",
    ),
    Option(
        "WEBLAB_DISPOSE_ASK_AGAIN",
        1,
        seconds_at_least(0.1),
        "Seconds the RLMS is told to wait before it calls dispose again while a disposal "
        "is still running.",
    ),
    Option(
        "WEBLAB_HEARTBEAT_INTERVAL",
        5,
        seconds_at_least(0.05),
        "Seconds between the heartbeats of each task-worker process. Task leases last two "
        "intervals and are renewed every half interval; a worker silent past its lease "
        "(dead, frozen, or cut off from Redis) has its tasks failed as `worker-lost` "
        "within three intervals, by any reader or cleaner.",
    ),
    Option(
        "WEBLAB_POWERED_BY",
        "weblab_ext",
        optional_text,
        "Value of the `powered-by` header added to every response; `None` (or an empty "
        "string) removes the header.",
    ),
    # issue 12: operator experience
    Option(
        "WEBLAB_HEALTH_CHECK_TIMEOUT",
        5,
        seconds_at_least(0.01),
        "Seconds the store ping and the lab's @weblab.health_check functions of one device "
        "(all together) may take in a round of health checks: a check still running then "
        "fails as 'did not answer within N s'.",
    ),
    Option(
        "WEBLAB_HEALTH_CHECK_INTERVAL",
        10,
        seconds_at_least(0.05),
        "Seconds between rounds of the store ping and the lab's @weblab.health_check "
        "functions (on each idle device), run in the background, once per interval across "
        "every process. GET /weblab/health reads the stored result (one store read, any "
        "request rate, no hardware work) and three failed runs in a row make a device "
        "broken. The default keeps the answer an RLMS reads at most about 10 s old and finds "
        "a broken device within about 30 s, while the hardware is asked only six times a "
        "minute; a result older than two intervals plus WEBLAB_HEALTH_CHECK_TIMEOUT (no "
        "background thread ran) makes the next health call start a round. At least "
        "0.05.",
    ),
    # issue 10: input limits and one-browser launch URLs
    Option(
        "WEBLAB_MAX_START_BODY",
        1024 * 1024,
        positive_int,
        "Largest start request body, in bytes: a larger one is answered 413 (JSON) before "
        "it is read, so a huge body is never parsed or stored.",
    ),
    Option(
        "WEBLAB_MAX_STATUS_IDS",
        10_000,
        positive_int,
        "Most session ids one status/multiple call may ask about: more are answered 400 "
        "(JSON); its body may hold 128 bytes per allowed id, plus 4 KiB.",
    ),
    Option(
        "WEBLAB_LAUNCH_ONCE",
        True,
        flag,
        "Whether a launch URL logs in only the first browser that follows it: that browser "
        "may follow it again (after other sessions too), any other gets a 'this link was "
        "already used' page. Turn it off for labs handing one launch URL to several browsers.",
    ),
    # issue 14: Prometheus metrics and the admin page
    Option(
        "WEBLAB_ADMIN_USERNAME",
        None,
        optional_text,
        "Username of the lab's operator. With `WEBLAB_ADMIN_PASSWORD` it turns on the "
        "Prometheus metrics at `<base>/weblab/metrics` and the admin page at "
        "`<base>/weblab/admin/`, both behind HTTP Basic authentication with these "
        "credentials; unset, both answer 404. Set both or neither.",
    ),
    Option(
        "WEBLAB_ADMIN_PASSWORD",
        None,
        optional_text,
        "Password of the lab's operator for the metrics and the admin page, compared in "
        "constant time and never logged. Use a long random value that differs from "
        "`WEBLAB_PASSWORD`: whoever knows it can end any session.",
    ),
    # issue 11: mass expiry in parallel
    Option(
        "WEBLAB_CLEANER_CONCURRENCY",
        16,
        positive_int,
        "How many `on_dispose` calls the cleaner of one process runs at the same time "
        "when many sessions end together (each in its own thread, only during a pass); "
        "`1` runs them one after the other.",
    ),
    Option(
        "WEBLAB_CLEANER_BATCH",
        50,
        positive_int,
        "How many due sessions a cleaner claims in one round trip. Cleaners of several "
        "processes claim different sessions, so a smaller batch spreads a mass expiry "
        "more evenly between them.",
    ),
    # issue 19: device pools
    Option(
        "WEBLAB_DEVICES",
        (),
        device_names,
        "Names of the identical devices (boards, rigs) this lab serves, e.g. "
        '`["board-1", "board-2"]`. Each device is its own RLMS resource, registered at '
        "`<base>/devices/<name>` with both dialects under it, and holds at most one session "
        "at a time; `weblab_user.device` names the session's device. With two or more, the "
        "un-prefixed RLMS paths answer 404 listing the device URLs; with one, they serve it "
        "too. Names are 1 to 64 letters, digits, `.`, `_`, `~` or `-`, unique. Unset: no "
        "devices, every URL and behaviour as in weblablib (sessions may overlap).",
    ),
    # issue 21: session records
    Option(
        "WEBLAB_RECORD",
        True,
        flag,
        "Whether each session leaves a record in the lab's store (start, RLMS calls, launch, "
        "Socket.IO connects, tasks, end, and the lab's `weblab.record(...)` events) for "
        "`flask weblab export` and the admin page. Off: nothing is recorded.",
    ),
    Option(
        "WEBLAB_RECORD_MAX_EVENTS",
        500,
        positive_int,
        "Most events kept per session record; later events are dropped and counted, except "
        "the end of the session, which always takes the last place.",
    ),
    Option(
        "WEBLAB_RECORD_RETENTION",
        7 * 24 * 3600,
        seconds_at_least(60),
        "Seconds a session record is kept after its last event (default 7 days).",
    ),
    Option(
        "WEBLAB_RECORD_PSEUDONYMS",
        None,
        optional_flag,
        "Whether records name users by a keyed hash of their unique username (stable for "
        "the lab) instead of the username. Unset: on, except when the app runs in debug. "
        "Full names never enter a record.",
    ),
    Option(
        "WEBLAB_RECORD_PSEUDONYM_SECRET",
        None,
        optional_text,
        "Key of the pseudonyms' hash (HMAC-SHA-256). Unset: derived from `SECRET_KEY`. Keep "
        "it to keep pseudonyms stable when `SECRET_KEY` changes.",
    ),
)

#: Each option by its key.
BY_KEY = {option.key: option for option in OPTIONS}
