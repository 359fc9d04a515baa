"""Entry point for servers and the CLI.

flask --app examples/advanced/wsgi.py run
flask --app examples/advanced/wsgi.py weblab loop
gunicorn --chdir examples/advanced wsgi:app
"""

from __future__ import annotations

from mylab import create_app

app = create_app()
