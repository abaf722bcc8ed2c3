"""The pack's HTTP routes on ComfyUI's server (used by the settings UI and the node's price
badge). Registered only when ComfyUI's PromptServer is running."""

from __future__ import annotations

import asyncio
import logging

from . import comfy, settings_api

log = logging.getLogger("runcomfy")
_registered = False


def register(node_classes: dict | None = None) -> bool:
    global _registered
    srv = comfy.prompt_server()
    if srv is None or _registered:
        return False
    try:
        from aiohttp import web
    except ImportError:
        return False
    routes = srv.routes

    def reply(status_body):
        status, body = status_body
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    @routes.get("/runcomfy/token")
    async def get_token(request):
        return web.json_response(settings_api.token_status(), headers={"Cache-Control": "no-store"})

    @routes.post("/runcomfy/token")
    async def post_token(request):
        try:
            body = await request.json()
        except Exception:
            return reply((400, {"ok": False, "error": "Send JSON: {\"token\": \"...\"}"}))
        token = body.get("token") if isinstance(body, dict) else None
        return reply(await asyncio.to_thread(settings_api.save_token, token if isinstance(token, str) else ""))

    @routes.delete("/runcomfy/token")
    async def delete_token(request):
        return reply(await asyncio.to_thread(settings_api.clear_token))

    @routes.post("/runcomfy/token/test")
    async def test_token(request):
        return reply(await asyncio.to_thread(settings_api.check_token))

    @routes.get("/runcomfy/price")
    async def get_price(request):
        model_id = request.query.get("model_id", "")
        node_class = request.query.get("node_class")
        if node_class is not None:
            cls = (node_classes or {}).get(node_class)
            model_id = cls.MODEL_ID if cls is not None else ""
        if not model_id:
            return web.json_response({"model_id": None, "available": False, "text": "price unavailable"})
        return web.json_response(await asyncio.to_thread(settings_api.price, model_id))

    _registered = True
    return True
