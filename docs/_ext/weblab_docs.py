"""Sphinx extension of the weblab_ext documentation.

* ``weblab-options``: the table of every ``WEBLAB_*`` key, generated from
  :data:`weblab_ext.config.OPTIONS` (key, type, default, meaning), so the reference cannot
  drift from the code. Use it in a Markdown page::

      ```{weblab-options}
      ```

* ``weblab-profiles``: the table of the RLMS client profiles of :mod:`weblab_ext.rlms`.
* ``message``: a role for a message weblab_ext itself produces (an error, a log line, a
  page), quoted exactly, ``...`` standing for the parts that vary. It renders as code;
  ``tests/system/test_docs_sources.py`` checks that each one is in the package's source, so a page
  such as Troubleshooting cannot quote a message the code no longer says::

      {message}`Unknown configuration key ... (ignored): ...`

* A check that no rendered page (Markdown or docstring) cites a document that is not part of
  the repository; with ``-W`` it fails the build.
"""

from __future__ import annotations

import json
import re
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: Names of documents that live outside the repository: pages must stand on their own.
OUTSIDE_CITATIONS = re.compile(r"\bSPEC\b|DESIGN\.md|RLMS_CLIENTS|STYLE\.md|\.\./shared\b")


def _default_text(option: Any) -> str:
    if option.required:
        return "none: **required**"
    return f"`{option.default!r}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def options_table() -> list[str]:
    """MyST lines describing every key of ``OPTIONS``: a summary table, then one ``confval``
    entry each (type, default, meaning), which gives each key an anchor and an index entry."""
    from weblab_ext.config import OPTIONS

    lines = ["| key | default |", "| --- | --- |"]
    lines += [
        f"| {{confval}}`{option.key}` | {_cell(_default_text(option))} |" for option in OPTIONS
    ]
    lines.append("")
    for option in OPTIONS:
        # Option values are quoted: MyST reads them as YAML, where ' and : mean something.
        lines += [
            f"```{{confval}} {option.key}",
            f":type: {json.dumps(option.type_name)}",
            f":default: {json.dumps(_default_text(option))}",
            "",
            option.doc,
            "```",
            "",
        ]
    return lines


class WebLabOptions(SphinxDirective):
    """Render the ``WEBLAB_*`` configuration table from the code."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from weblab_ext import config

        self.env.note_dependency(config.__file__)  # rebuild the page when the table changes
        return _parsed(self, options_table(), "weblab_ext/config/options.py", "weblab-options")


def profiles_table() -> list[str]:
    """Markdown lines of the RLMS profile table, one row per profile of ``PROFILES``."""
    from weblab_ext.rlms import PROFILE_ALIASES, PROFILES

    aliases: dict[str, list[str]] = {}
    for alias, name in PROFILE_ALIASES.items():
        aliases.setdefault(name, []).append(f"`{alias}`")
    lines = ["| profile | alias | prefix | imitates |", "| --- | --- | --- | --- |"]
    for name, profile in PROFILES.items():
        lines.append(
            f"| `{name}` | {', '.join(aliases.get(name, []))} | `{profile.prefix}` "
            f"| {_cell(profile.description)} |"
        )
    return lines


class WebLabProfiles(SphinxDirective):
    """Render the RLMS profile table from the code."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from weblab_ext.rlms import profiles

        self.env.note_dependency(profiles.__file__)
        return _parsed(self, profiles_table(), "weblab_ext/rlms/profiles.py", "weblab-profiles")


def _parsed(
    directive: SphinxDirective, lines: list[str], source: str, css_class: str
) -> list[nodes.Node]:
    container = nodes.container(classes=[css_class])
    directive.state.nested_parse(
        StringList(lines, source=source), directive.content_offset, container
    )
    return [container]


def message_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Any,
    options: dict[str, Any] | None = None,
    content: list[str] | None = None,
) -> tuple[list[nodes.Node], list[Any]]:
    """``{message}`text```: a message of weblab_ext, shown as code (checked by the tests)."""
    return [nodes.literal(rawtext, text, classes=["weblab-message"])], []


def check_citations(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Warn (an error under ``-W``) for every text that cites a document outside the repo."""
    for node in doctree.findall(nodes.Text):
        match = OUTSIDE_CITATIONS.search(node.astext())
        if match:
            logger.warning(
                "%s cites %r, a document outside the repository",
                docname,
                match.group(0),
                location=node.parent,
            )


def drop_hidden_envvars(app: Sphinx, ctx: Any, lines: list[str]) -> None:
    """Leave out the environment variables of hidden options (sphinx-click lists them, with a
    reference to an option it does not document)."""
    hidden = {
        param.envvar
        for param in ctx.command.params
        if getattr(param, "hidden", False) and param.envvar
    }
    kept: list[str] = []
    skipping = False
    for line in lines:
        if line.startswith(".. _"):
            skipping = any(line.endswith(f"-{envvar}:") for envvar in hidden)
        if not skipping:
            kept.append(line)
    lines[:] = kept


def setup(app: Sphinx) -> dict[str, Any]:
    # sphinx-click 6 emits "...-envars" but registers "...-envvars": listen to both.
    for event in ("sphinx-click-process-envvars", "sphinx-click-process-envars"):
        if event not in app.events.events:
            app.add_event(event)
        app.connect(event, drop_hidden_envvars)
    app.add_directive("weblab-options", WebLabOptions)  # needs Sphinx >= 7.4 (confval)
    app.add_directive("weblab-profiles", WebLabProfiles)
    app.add_role("message", message_role)
    app.connect("doctree-resolved", check_citations)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
