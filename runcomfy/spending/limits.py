"""Daily and monthly spending limits (USD), off by default.

Two places set them: ``<config>/limits.json`` (Settings › RunComfy Model API, saved by the pack's route)
and the environment (``RUNCOMFY_DAILY_LIMIT_USD`` / ``RUNCOMFY_MONTHLY_LIMIT_USD``, for headless
use). When both set a limit, the lower one applies: a limit only ever makes spending stricter.
Every process using the same config folder reads the same file at each submit, so a change in
one ComfyUI applies to the others and to batch runs from their next submit on.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from .. import settings
from ..errors import ConfigError

LIMITS_FILE = "limits.json"
_SAVED: dict[str, tuple] = {}     # path -> (its stat signature, the limits it held)
MAX_LIMIT_USD = 1_000_000.0


def limits_path(folder: Path | str) -> Path:
    return Path(folder) / LIMITS_FILE


def parse_usd(value, what: str) -> float | None:
    """A limit as typed: None/""/0 means off; else a finite positive number of USD."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be an amount in USD (got {value!r}).")
    try:
        usd = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be an amount in USD, like 5 or 12.50 (got {str(value)[:40]!r}).") from None
    if not math.isfinite(usd) or usd < 0 or usd > MAX_LIMIT_USD:
        raise ConfigError(f"{what} must be between 0 (off) and {MAX_LIMIT_USD:,.0f} USD (got {str(value)[:40]!r}).")
    return usd or None


@dataclass(frozen=True)
class Limits:
    daily: float | None = None
    monthly: float | None = None
    daily_source: str = ""       # "settings" | the environment variable's name | ""
    monthly_source: str = ""
    saved_daily: float | None = None
    saved_monthly: float | None = None

    @property
    def active(self) -> bool:
        return self.daily is not None or self.monthly is not None

    def public(self) -> dict:
        return {"daily_usd": self.daily, "monthly_usd": self.monthly,
                "daily_source": self.daily_source or None, "monthly_source": self.monthly_source or None,
                "saved": {"daily_usd": self.saved_daily, "monthly_usd": self.saved_monthly},
                "env": {settings.DAILY_LIMIT_ENV: _env_public(settings.DAILY_LIMIT_ENV),
                        settings.MONTHLY_LIMIT_ENV: _env_public(settings.MONTHLY_LIMIT_ENV)}}


def _env_public(name: str):
    try:
        return parse_usd(settings.raw(name), name)
    except ConfigError:
        return "invalid"


def read_saved(folder: Path | str) -> tuple[float | None, float | None]:
    """The limits saved from Settings; a missing file means none. A file that is not ours
    is an error (limits silently off would be worse than a clear message)."""
    path = limits_path(folder)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, None
    except OSError:
        st = None
    # Read at every submit: parsed again only when the file changed (saving replaces it: a new inode).
    sig = (st.st_ino, st.st_size, st.st_mtime_ns) if st is not None else None
    seen = _SAVED.get(str(path))
    if sig is not None and seen is not None and seen[0] == sig:
        return seen[1]
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise ConfigError(f"The spending limits file {path} cannot be read ({exc.strerror or exc}).") from None
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError
    except ValueError:
        raise ConfigError(f"The spending limits file {path} is not valid JSON; fix or delete it "
                          "(Settings › RunComfy Model API saves it again).") from None
    got = (parse_usd(doc.get("daily_usd"), f"daily_usd in {path}"),
           parse_usd(doc.get("monthly_usd"), f"monthly_usd in {path}"))
    if sig is not None:
        _SAVED[str(path)] = (sig, got)
    return got


def current(folder: Path | str) -> Limits:
    """The limits in force now for this config folder (file, then environment: the lower wins)."""
    saved_daily, saved_monthly = read_saved(folder)
    env_daily = parse_usd(settings.raw(settings.DAILY_LIMIT_ENV), settings.DAILY_LIMIT_ENV)
    env_monthly = parse_usd(settings.raw(settings.MONTHLY_LIMIT_ENV), settings.MONTHLY_LIMIT_ENV)

    def pick(saved, env, env_name):
        if saved is None and env is None:
            return None, ""
        if env is not None and (saved is None or env <= saved):
            return env, env_name
        return saved, "settings"
    daily, dsrc = pick(saved_daily, env_daily, settings.DAILY_LIMIT_ENV)
    monthly, msrc = pick(saved_monthly, env_monthly, settings.MONTHLY_LIMIT_ENV)
    return Limits(daily, monthly, dsrc, msrc, saved_daily, saved_monthly)


def save(folder: Path | str, daily, monthly) -> tuple[float | None, float | None]:
    """Saves the Settings limits (None/0/"" turns one off); ConfigError for a bad amount."""
    from ..journal.store import atomic_write
    d = parse_usd(daily, "The daily spending limit")
    m = parse_usd(monthly, "The monthly spending limit")
    path = limits_path(folder)
    if d is None and m is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    else:
        atomic_write(path, json.dumps({"daily_usd": d, "monthly_usd": m}).encode(), mode=0o600)
    return d, m
