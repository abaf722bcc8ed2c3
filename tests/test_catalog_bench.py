"""The benchmark's catalog section runs end to end (figures are printed, never asserted)."""

from __future__ import annotations

from devtools.bench import catalog as bench_catalog


def test_catalog_section_measures_a_generated_catalog():
    res = bench_catalog.section_catalog(quick=True, n_models=60)
    assert res["cli_nodes"] == 61 and res["nodes_catalog"] == 61 and res["nodes_shipped"] == 1
    assert res["object_info_catalog_bytes"] > res["object_info_shipped_bytes"] + 60 * 1000
    assert res["stalled_start"] is None                         # the 5 s stall is measured only in full runs
    text = bench_catalog.render(res)
    assert "6. Catalog scale: 60 generated catalog entries" in text and "/object_info of the pack" in text
