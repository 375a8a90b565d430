"""The one list of URLs."""

from __future__ import annotations

from aiohttp import web

from service.web import api, ops, pages


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/metrics", ops.metrics)
    app.router.add_get("/", pages.dashboard)
    app.router.add_get("/login", pages.login_form)
    app.router.add_post("/login", pages.login)
    app.router.add_get("/logout", pages.logout_form)
    app.router.add_post("/logout", pages.logout)
    app.router.add_get("/connections", pages.connections_page)
    app.router.add_get("/applications/{application_id}", pages.application_page)
    app.router.add_get("/evidence/{token}", pages.evidence_page)
    app.router.add_get("/static/{name}", pages.static_asset)
    app.router.add_get("/api/v1/applications", api.list_applications)
    app.router.add_get("/api/v1/applications/{application_id}", api.get_application)
    app.router.add_post("/api/v1/applications/{application_id}/credentials", api.post_credential)
    app.router.add_post("/api/v1/applications/{application_id}/evaluate", api.evaluate)
    app.router.add_get("/api/v1/jobs", api.list_jobs)
    app.router.add_get("/api/v1/connections", api.list_connections)
    app.router.add_post("/api/v1/connections/{connection_id}/sync", api.sync_now)
    app.router.add_get("/api/v1/outbox", api.outbox_status)
    app.router.add_post("/api/v1/verify", api.verify_credential)
    app.router.add_get("/api/v1/taxonomies", api.list_taxonomies)
    app.router.add_get("/api/v1/taxonomies/{name}/search", api.search_taxonomy)
    app.router.add_get("/api/v1/taxonomies/{name}/occupations", api.search_occupations)
    app.router.add_post("/api/v1/taxonomies/{name}/occupation-choices", api.post_occupation_choice)
    app.router.add_get("/api/v1/taxonomies/{name}/draft-profile", api.draft_profile)
    app.router.add_put("/api/v1/taxonomies/{name}/overrides", api.put_override)
    app.router.add_get("/api/v1/trusted-issuers", api.list_trusted_issuers)
    app.router.add_post("/api/v1/trusted-issuers", api.add_trusted_issuer)
    app.router.add_delete("/api/v1/trusted-issuers/{entry_id}", api.remove_trusted_issuer)
