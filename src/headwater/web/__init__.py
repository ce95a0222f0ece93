"""The web UI, served by the same app at ``/``: dashboard, lineage explorer, datasets, jobs and
runs, audit log and search. Pages are rendered on the server; the lineage explorer draws its
graph in the browser from the Marquez-compatible ``/api/v1/lineage``. Every asset is served
from ``static/``: the UI works with no network but the one to headwater.
"""

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from headwater.web.pages import PAGES as PAGES
from headwater.web.pages import STATIC as STATIC
from headwater.web.pages import router as router
from headwater.web.pages import sign_in_first as sign_in_first

__all__ = ["PAGES", "STATIC", "install", "router", "sign_in_first"]


def install(app: FastAPI) -> None:
    """Serve the UI's pages and assets from ``app``, each as a route of the app itself: it
    gets the app's dependencies (access control) as every API route does, and it is in the
    app's own route table, which is what the route-rule checks read."""
    for route in router.routes:
        assert isinstance(route, APIRoute)
        app.add_api_route(
            route.path,
            route.endpoint,
            methods=sorted(route.methods or ()),
            name=route.name,
            response_class=HTMLResponse,
            include_in_schema=False,
        )
