"""The pack's HTTP routes on ComfyUI's server (used by the settings UI and the node's price
badge). Registered only when ComfyUI's PromptServer is running.

Every route goes through ``origin_guard``: writes (POST/DELETE) need this server's own Host, a
same-origin or absent Origin, ``X-RunComfy-Request: 1`` and JSON; reads that reveal no secret
(price, token set yes/no) answer for any Host (hosted, reverse-proxied ComfyUIs); the network
settings read needs the Host and Origin checks. Every answer is JSON, errors included; a POST
body is read by ``http_json.read_json`` (a wrong one: 400 naming the problem and an example)."""

from __future__ import annotations

import asyncio
import functools
import logging

from . import comfy, settings_api
from .http_json import BadBody, read_json
from .origin_guard import public_read, same_origin_read, same_origin_write

log = logging.getLogger("runcomfy")
_registered = False


def _reply(status_body: tuple[int, dict]):
    """A route's (status, body) as JSON that no cache keeps (the token state, spend, limits)."""
    from aiohttp import web
    status, body = status_body
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


def _json_errors(handler):
    """A bug in a route answers JSON the settings page can show, not aiohttp's HTML 500; a POST
    body the route cannot use answers http_json's 400."""
    @functools.wraps(handler)
    async def wrapped(request):
        from aiohttp import web
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except BadBody as exc:
            return _reply(exc.answer())
        except Exception as exc:  # noqa: BLE001 - the route must answer
            log.exception("runcomfy: route %s %s failed", request.method, request.path)
            return _reply((500, {"ok": False, "error": f"The RunComfy pack failed on this request "
                                                       f"({type(exc).__name__}); see the ComfyUI log."}))
    return wrapped


def register(node_classes: dict | None = None) -> bool:
    global _registered
    if not _registered:
        try:
            settings_api.load_network_settings()    # the saved proxy applies to headless runs too
        except Exception:  # noqa: BLE001 - a broken settings file must not stop the pack loading
            log.exception("runcomfy: could not read the saved network settings")
    srv = comfy.prompt_server()
    if srv is None or _registered:
        return False
    try:
        import aiohttp.web  # noqa: F401 - the routes answer through it
    except ImportError:
        return False
    routes = srv.routes
    reply = _reply

    @routes.get("/runcomfy-model-api/token")
    @public_read
    @_json_errors
    async def get_token(request):
        return reply((200, await asyncio.to_thread(settings_api.token_status)))

    @routes.post("/runcomfy-model-api/token")
    @same_origin_write
    @_json_errors
    async def post_token(request):
        body = await read_json(request, settings_api.TOKEN_EXAMPLE, ("token",))
        return reply(await asyncio.to_thread(settings_api.save_token, body["token"]))

    @routes.delete("/runcomfy-model-api/token")
    @same_origin_write
    @_json_errors
    async def delete_token(request):
        return reply(await asyncio.to_thread(settings_api.clear_token))

    @routes.post("/runcomfy-model-api/token/test")
    @same_origin_write
    @_json_errors
    async def test_token(request):
        return reply(await asyncio.to_thread(settings_api.check_token))

    @routes.get("/runcomfy-model-api/price")
    @public_read
    @_json_errors
    async def get_price(request):
        model_id, doc = request.query.get("model_id", ""), None
        node_class = request.query.get("node_class")
        if node_class is not None:
            cls = (node_classes or {}).get(node_class)
            model_id = cls.MODEL_ID if cls is not None else ""
            doc = getattr(getattr(cls, "SCHEMA", None), "doc", None)
        if not model_id:
            return reply((200, {"model_id": None, "available": False, "text": "price unavailable"}))
        return reply(await asyncio.to_thread(settings_api.price_answer, model_id, doc))

    @routes.post("/runcomfy-model-api/catalog/refresh")
    @same_origin_write
    @_json_errors
    async def refresh_catalog(request):
        from . import catalog_api
        return reply(await catalog_api.refresh_async())

    @routes.get("/runcomfy-model-api/network")
    @same_origin_read
    @_json_errors
    async def get_network(request):
        return reply((200, await asyncio.to_thread(settings_api.network_status)))

    @routes.post("/runcomfy-model-api/network")
    @same_origin_write
    @_json_errors
    async def post_network(request):
        body = await read_json(request, settings_api.PROXY_EXAMPLE, ("proxy",))
        return reply(await asyncio.to_thread(settings_api.save_proxy, body["proxy"]))

    @routes.delete("/runcomfy-model-api/network")
    @same_origin_write
    @_json_errors
    async def delete_network(request):
        return reply(await asyncio.to_thread(settings_api.save_proxy, ""))

    from . import history_api        # the request history, spend totals and limits (issue 20)
    history_api.add_routes(routes, reply, _json_errors, node_classes)

    from . import resolve            # nodes for models a loaded workflow names (issue 19.1)

    @routes.post("/runcomfy-model-api/resolve")
    @same_origin_write
    @_json_errors
    async def resolve_models(request):
        return reply(await resolve.route(await read_json(request, resolve.EXAMPLE)))

    resolve.install_prompt_hook(srv)

    _registered = True
    return True
