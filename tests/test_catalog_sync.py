"""Catalog sync over real sockets against the emulator: every page, runnable entries only, an
atomic per-API cache, what changed, models that disappear, and a catalog read without a token."""

from __future__ import annotations

import json
import logging
import os
import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from runcomfy import catalog
from runcomfy.catalog import cache_path, load_entries, read_cache, sync
from runcomfy.catalog.sync import CatalogError, fetch_catalog
from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.emulator.catalog import generate_entries, sample_entries

TOKEN = "tok-catalog-sync-0123456789"
WAN = "wan-ai/wan-2-6/image-to-image"


@pytest.fixture
def emu(start_emulator):
    return start_emulator(TOKEN)


def _catalog_calls(emu):
    return [c for c in emu.calls if c.endpoint == "models"]


def test_sync_reads_every_page_and_keeps_only_runnable_entries(emu, tmp_path):
    emu.serve_catalog(generate_entries(250, seed=3, non_runnable=3))
    report = sync(tmp_path, token=TOKEN, base_url=emu.base_url)
    assert report.ok, report.error
    assert (report.total, report.runnable, report.pages) == (253, 250, 3)
    assert sorted(s["reason"] for s in report.skipped) == ["kind 'workflow' is not a runnable model"] * 3
    calls = _catalog_calls(emu)
    assert len(calls) == 3
    offsets = []
    for c in calls:
        q = parse_qs(urlsplit(c.path).query)
        assert q["include_schema"] == ["true"] and q["limit"] == ["100"] and c.auth_header_present
        offsets.append(int(q["offset"][0]))
    assert offsets == [0, 100, 200]
    cache = read_cache(cache_path(tmp_path, emu.base_url))
    assert len(cache.models) == 250 and cache.base_url == emu.base_url
    assert all("input_schema" in d for d in cache.models)
    assert set(report.added) == {d["model_id"] for d in cache.models} and not report.changed


def test_cache_is_written_atomically_one_file_per_api(emu, tmp_path):
    assert sync(tmp_path, token=TOKEN, base_url=emu.base_url).ok
    path = cache_path(tmp_path, emu.base_url)
    assert path.parent == tmp_path and path.name.startswith("catalog-127.0.0.1-")
    assert cache_path(tmp_path, "https://model-api.runcomfy.net/v1").name == "catalog.json"
    assert json.loads(path.read_text())["models"][0]["model_id"] == WAN
    assert [p.name for p in tmp_path.iterdir()] == [path.name]          # no temporary file left behind
    # The emulator's cache is not what the nodes of another API see.
    other = load_entries(tmp_path, "https://model-api.runcomfy.net/v1")
    assert [e.origin for e in other] == ["bundled"]


def test_second_sync_reports_added_changed_removed_and_keeps_removed_models(emu, tmp_path):
    entries = generate_entries(5, seed=1)
    emu.serve_catalog(entries)
    assert sync(tmp_path, token=TOKEN, base_url=emu.base_url).ok
    gone, changed = entries[1]["model_id"], entries[2]["model_id"]
    entries[2] = dict(entries[2], base_price_usd=9.99)
    newcomer = dict(entries[0], model_id="synthetic/newcomer/text-to-image")
    emu.serve_catalog([e for e in entries if e["model_id"] != gone] + [newcomer])
    report = sync(tmp_path, token=TOKEN, base_url=emu.base_url, clock=lambda: 1_700_000_000.0)
    assert (report.added, report.changed, report.removed) == (["synthetic/newcomer/text-to-image"], [changed], [gone])
    loaded = {e.model_id: e for e in load_entries(tmp_path, emu.base_url)}
    assert loaded[gone].listed is False and "no longer lists" in loaded[gone].notes[0]
    assert loaded[gone].doc == entries[1]                  # the node keeps its last known schema
    assert loaded[changed].doc["base_price_usd"] == 9.99 and loaded[changed].listed
    # Still gone at the next sync: still kept, not reported as removed again.
    again = sync(tmp_path, token=TOKEN, base_url=emu.base_url)
    assert again.removed == [] and not loaded[gone].listed
    assert gone in {e.model_id for e in load_entries(tmp_path, emu.base_url) if not e.listed}
    # Back in the catalog: listed again.
    emu.serve_catalog(entries + [newcomer])
    back = sync(tmp_path, token=TOKEN, base_url=emu.base_url)
    assert back.added == [gone]
    assert all(e.listed for e in load_entries(tmp_path, emu.base_url))


def test_cache_wins_over_the_shipped_schema_and_keeps_its_english_overlay(emu, tmp_path):
    wan = next(d for d in json.loads(
        json.dumps([{"model_id": WAN, "display_name": "Wan 2.6 Image Edit (from the catalog)", "categories": ["image-to-image"],
                     "kind": "model", "base_price_usd": 0.03, "price_unit": "output",
                     "input_schema": json.loads((catalog.SCHEMA_DIR / "wan-ai__wan-2-6__image-to-image.schema.json")
                                                .read_text())["input_schema"]}])))
    emu.serve_catalog([wan])
    assert sync(tmp_path, token=TOKEN, base_url=emu.base_url).ok
    [entry] = load_entries(tmp_path, emu.base_url)
    assert entry.origin == "cache" and entry.display_name == "Wan 2.6 Image Edit (from the catalog)"
    assert entry.overlay and entry.overlay.get("fields")          # the shipped English texts stay


def test_a_public_catalog_is_read_without_a_token(emu, tmp_path):
    emu.catalog_public = True
    report = sync(tmp_path, token=None, base_url=emu.base_url)
    assert report.ok and report.anonymous and report.runnable == 1
    assert _catalog_calls(emu) and not any(c.auth_header_present for c in _catalog_calls(emu))


def test_without_a_token_a_401_says_a_token_is_needed_and_keeps_the_cache(emu, tmp_path):
    assert sync(tmp_path, token=TOKEN, base_url=emu.base_url).ok
    before = cache_path(tmp_path, emu.base_url).read_bytes()
    report = sync(tmp_path, token=None, base_url=emu.base_url)
    assert not report.ok and report.needs_token and "token" in report.error
    assert cache_path(tmp_path, emu.base_url).read_bytes() == before
    wrong = sync(tmp_path, token="tok-wrong-0123456789", base_url=emu.base_url)
    assert wrong.needs_token and "rejected" in wrong.error and TOKEN not in wrong.error


def test_no_network_is_a_report_not_an_exception(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]          # closed again: nothing listens there
    client = RunComfyClient(TOKEN, f"http://127.0.0.1:{port}/v1", retry=RetryPolicy(max_attempts=1))
    report = sync(tmp_path, token=TOKEN, client=client)
    client.close()
    assert not report.ok and not report.needs_token and "could not connect" in report.error
    assert not cache_path(tmp_path, f"http://127.0.0.1:{port}/v1").exists()


def test_one_malformed_entry_does_not_take_the_others_down(emu, tmp_path):
    good = generate_entries(3)
    emu.serve_catalog([good[0], {"model_id": "one-segment", "input_schema": {"properties": {}}},
                       {"model_id": "acme/no-schema"}, good[1],
                       {"model_id": "acme/bad-props", "input_schema": {"properties": ["x"]}}, good[2]])
    report = sync(tmp_path, token=TOKEN, base_url=emu.base_url)
    assert report.ok and report.runnable == 3 and report.total == 6
    reasons = {s["model_id"]: s["reason"] for s in report.skipped}
    assert "2 to 4 path segments" in reasons["one-segment"]
    assert "input_schema" in reasons["acme/no-schema"] and "input_schema" in reasons["acme/bad-props"]


def test_a_catalog_that_never_ends_is_cut_off():
    class Endless:
        base_url = "http://127.0.0.1:1/v1"

        def __init__(self):
            self.calls = 0

        def list_models(self, include_schema, limit, offset):
            self.calls += 1
            return {"models": [dict(generate_entries(1)[0], model_id=f"x/m{offset}")], "total": 10**9}
    endless = Endless()
    with pytest.raises(CatalogError, match="did not end after 7 pages"):
        fetch_catalog(endless, max_pages=7)
    assert endless.calls == 7


def test_staleness_and_an_unreadable_cache(emu, tmp_path, caplog):
    assert sync(tmp_path, token=TOKEN, base_url=emu.base_url, clock=lambda: 1000.0).ok
    cache = read_cache(cache_path(tmp_path, emu.base_url))
    assert not cache.stale(now=1000.0 + 23 * 3600) and cache.stale(now=1000.0 + 25 * 3600)
    assert cache.stale(now=0.0)                        # a clock set back: refresh rather than trust it
    cache_path(tmp_path, emu.base_url).write_text("{ torn")
    with caplog.at_level(logging.WARNING, logger="runcomfy"):
        assert read_cache(cache_path(tmp_path, emu.base_url)) is None
    assert "unreadable" in caplog.text
    assert [e.origin for e in load_entries(tmp_path, emu.base_url)] == ["bundled"]
    assert sync(tmp_path, token=TOKEN, base_url=emu.base_url).ok      # and the next sync replaces it
    assert read_cache(cache_path(tmp_path, emu.base_url)) is not None


def test_the_sample_catalog_syncs_with_its_dialects(emu, tmp_path):
    emu.serve_catalog(sample_entries())
    report = sync(tmp_path, token=TOKEN, base_url=emu.base_url)
    kinds = {s["model_id"]: s["reason"] for s in report.skipped}
    assert set(kinds) == {"emulator-samples/guides/prompting-guide", "emulator-samples/workflows/portrait-pipeline"}
    ids = {e.model_id for e in load_entries(tmp_path, emu.base_url)}
    assert "emulator-samples/video-gen/multi-shot" in ids and "emulator-samples/upscale" in ids  # no kind = runnable
    assert os.stat(cache_path(tmp_path, emu.base_url)).st_size > 1000


def test_an_anonymous_client_reads_the_catalog_but_never_submits(emu):
    from runcomfy.errors import ConfigError
    with pytest.raises(ConfigError):
        RunComfyClient(None, emu.base_url)                     # the default still demands a token
    emu.catalog_public = True
    client = RunComfyClient(None, emu.base_url, allow_anonymous=True)
    try:
        assert client.list_models(limit=1)["total"] == 1
        with pytest.raises(ConfigError, match="No RunComfy API token"):
            client.submit(WAN, {"prompt": "x"})
    finally:
        client.close()
    assert emu.count("submit") == 0 and not any(c.auth_header_present for c in emu.calls)
