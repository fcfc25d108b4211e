"""The web shell: pages, the JSON API, health and metrics. Start with :func:`app.create_app`."""
