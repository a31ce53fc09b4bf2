"""The web workbench: server-rendered pages (Starlette, Jinja2 templates) served by provreg itself.

One room: the pages. `app.py` has the routes (signing in and out, the static files) and mounts
each group's pages (`steward.py`: the data stewards'); `session.py` the session cookie, the form
guard, and `Page`, a signed-in request with its connections, audit and rendering. Templates are
under `templates/` (`base.html` is every page's layout), the stylesheet, the keyboard script and
the font (Noto Sans, covering Vietnamese) under `static/`. Nothing is loaded from another site and
nothing is built at install. The pages read and change through registry/reads.py and
registry/identity/, as the API does.

Another group's pages: a module like `steward.py` (its `routes()`, its `HOME`, each handler a
`Page` of the permission it needs, its templates under `templates/<group>/` extending
`base.html`), whose routes and home `app.py` adds.
"""
