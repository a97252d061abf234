"""`facert serve`: the HTTP server (see core.py, app.py, local.py; ray_app.py for Ray Serve)."""
