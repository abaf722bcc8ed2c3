"""runcomfy/media/spec.py: the media kinds' facts in one table, read by every layer that used to
spell them out; importable without PyAV, Pillow or numpy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT
from runcomfy.media import kinds, spec
from runcomfy.media.kinds import results
from runcomfy.schema import MEDIA_FORMATS


def test_the_table_imports_without_codecs_pillow_or_numpy():
    code = ("import sys\nfor m in ('av', 'PIL', 'numpy', 'torch'): sys.modules[m] = None\n"
            "from runcomfy.media import spec\nfrom runcomfy import schema\n"
            "assert set(spec.KINDS) == {'image', 'video', 'audio'}\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("name", list(spec.KINDS))
def test_every_row_is_a_registered_kind_carrying_its_facts(name):
    row, kind = spec.KINDS[name], kinds.get(name)
    assert kind.spec is row
    for attr in ("single_format", "list_format", "mime_prefix", "socket_type", "output_keys",
                 "inline_cap_bytes", "max_sockets", "default_sockets", "output_cap_bytes"):
        assert getattr(kind, attr) == getattr(row, attr), attr
    assert kinds.kind_for_format(row.single_format) == (kind, False)
    assert kinds.kind_for_format(row.list_format) == (kind, True)
    assert all(kinds.kind_for_output_key(k) is kind for k in row.output_keys)
    assert row.default_extension in row.extensions and row.socket_type == name.upper()


def test_the_schema_client_and_result_files_read_the_table():
    from runcomfy.api.records import output_urls
    assert MEDIA_FORMATS == spec.FORMATS and len(spec.FORMATS) == 2 * len(spec.KINDS)
    out = {key: f"https://files.example/{key}.bin" for key in spec.OUTPUT_KEYS}
    assert output_urls(out) == [f"https://files.example/{key}.bin" for key in spec.OUTPUT_KEYS]
    for row in spec.KINDS.values():
        for ext in row.extensions:
            assert results.kind_of_url(f"https://files.example/a/result.{ext.upper()}") == \
                (row.name if row.streamed else None)
        if row.streamed:
            path = results.target_path("/tmp/x", "rid", 0, "https://files.example/result", row.name)
            assert path.endswith(f"rid_1.{row.default_extension}")


def test_the_per_kind_result_hook_counts_in_memory_images_only(monkeypatch):
    """The pre-decode check the generic job code calls for every kind (jobs/run._check_results):
    the image kind refuses in-memory images over the job's pixels from their headers; files of
    other kinds and paths are left to their own decode."""
    from runcomfy.media import images
    from runcomfy.media.kinds import budget
    import numpy as np
    png = images.encode_png(np.zeros((64, 64, 3), np.uint8))
    others = [b"RIFF\x00\x00\x00\x00WAVEfmt ", "/no/such/result.mp4"]
    monkeypatch.setattr(budget, "MAX_JOB_PIXELS", 8_192)
    for name in spec.KINDS:
        kinds.get(name).check_results([png, png] + others)       # 8,192 pixels: at the limit, taken
    with pytest.raises(budget.DecodeLimitError, match=r"its 3 result images hold 12,288 pixels in total, "
                                                      r"over the limit of 8,192 per job"):
        kinds.get("image").check_results([png, png, png] + others)
    for name in ("video", "audio"):
        kinds.get(name).check_results([png, png, png] + others)
