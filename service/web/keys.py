"""Typed application keys: every app-wide object is reached through one of these."""

from __future__ import annotations

import asyncio

import jinja2
from aiohttp import web
from prometheus_client import CollectorRegistry

from service.runtime import Runtime
from service.settings import Settings
from service.web.assets import Assets
from service.web.metrics import Metrics

SETTINGS = web.AppKey("settings", Settings)
RUNTIME = web.AppKey("runtime", Runtime)
METRICS = web.AppKey("metrics", Metrics)
REGISTRY = web.AppKey("registry", CollectorRegistry)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
ASSETS = web.AppKey("assets", Assets)
SCHEDULER_TASK = web.AppKey("scheduler_task", asyncio.Task[None])
