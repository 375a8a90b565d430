"""Server-rendered pages: sign-in, applications, connections, and the public evidence page."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from itsdangerous import SignatureExpired

from service import views
from service.errors import LinkExpired, NotFound, Unauthorized
from service.security.links import LinkError
from service.web.assets import CACHE_FOREVER, CACHE_REVALIDATE
from service.web.auth import (
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    authenticate,
    end_session,
    principal_for_token,
    start_session,
)
from service.web.keys import ASSETS, RUNTIME, TEMPLATES


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    html = request.app[TEMPLATES].get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html")


async def _principal_or_login(request: web.Request) -> Any:
    try:
        return await authenticate(request)
    except Unauthorized as exc:
        raise web.HTTPSeeOther("/login") from exc


async def dashboard(request: web.Request) -> web.Response:
    principal = await _principal_or_login(request)
    applications = await views.application_list(request.app[RUNTIME], tenant_id=principal.tenant_id)
    return render(request, "dashboard.html", applications=applications)


async def application_page(request: web.Request) -> web.Response:
    principal = await _principal_or_login(request)
    detail = await views.application_detail(
        request.app[RUNTIME],
        tenant_id=principal.tenant_id,
        application_id=request.match_info["application_id"],
    )
    return render(request, "application.html", app=detail, public=False)


async def connections_page(request: web.Request) -> web.Response:
    principal = await _principal_or_login(request)
    runtime = request.app[RUNTIME]
    return render(
        request,
        "connections.html",
        connections=await views.connection_list(runtime, tenant_id=principal.tenant_id),
        outbox=await views.outbox_summary(runtime, tenant_id=principal.tenant_id),
    )


async def evidence_page(request: web.Request) -> web.Response:
    """What a recruiter (from the ATS link) or the candidate sees: the score and its reasons."""
    runtime = request.app[RUNTIME]
    try:
        tenant_id, match_id = runtime.links.read_evidence_token(request.match_info["token"])
    except LinkError as exc:
        if isinstance(exc.__cause__, SignatureExpired):  # genuine, only old: say what helps
            raise LinkExpired(str(exc)) from exc
        raise NotFound(str(exc)) from exc
    detail = await views.match_for_evidence(runtime, tenant_id=tenant_id, match_id=match_id)
    return render(request, "application.html", app=detail, public=True)


async def login_form(request: web.Request) -> web.Response:
    return render(request, "login.html", error=None)


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    token = str(form.get("key", "")).strip()
    principal = await principal_for_token(request, token) if token else None
    if principal is None:
        return render(request, "login.html", status=401, error="That API key is not valid.")
    response = web.HTTPSeeOther("/")
    response.set_cookie(
        SESSION_COOKIE,
        await start_session(request, principal),
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.app[RUNTIME].settings.base_url.startswith("https://"),
    )
    raise response


async def logout_form(request: web.Request) -> web.Response:
    """A typed or followed /logout asks first: only the form's POST ends the session, so a link
    elsewhere (or a prefetch) cannot sign anyone out."""
    await _principal_or_login(request)
    return render(request, "logout.html")


async def logout(request: web.Request) -> web.Response:
    """Sign out: the session ends on the server, not just in this browser."""
    await end_session(request)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE)
    raise response


async def static_asset(request: web.Request) -> web.Response:
    """A file from service/web/static, with the headers that let browsers keep it."""
    asset = request.app[ASSETS].get(request.match_info["name"])
    if asset is None:
        raise NotFound(f"no static file {request.match_info['name']}")
    current = request.query.get("v") == asset.digest
    headers = {"Cache-Control": CACHE_FOREVER if current else CACHE_REVALIDATE}
    if any(tag.value in (asset.digest, "*") for tag in request.if_none_match or ()):
        response = web.Response(status=304, headers=headers)
    else:
        response = web.Response(
            body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers
        )
    response.etag = asset.digest
    return response
