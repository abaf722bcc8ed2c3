"""The web extension formats money and prices exactly as the Python side does.

The node's text and dry run (Python, ``runcomfy/pricing.py``) and the badge, status panel and
settings (JavaScript, ``web/lib/format.js``) must never disagree ("cost $0.0300" next to
"$0.03"). Node evaluates the JS functions on the same inputs; skipped when ``node`` is absent.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest

from conftest import ROOT

pricing = pytest.importorskip("runcomfy.pricing")

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

SCRIPT = """
const { formatUsd, unitPriceText, estimateText } = await import(process.argv[1]);
const cases = JSON.parse(process.argv[2]);
const out = cases.map(([usd, unit, duration]) => [formatUsd(usd), unitPriceText(usd, unit),
  estimateText(usd, unit, duration)]);
console.log(JSON.stringify(out));
"""


def _amounts() -> list[float]:
    rng = random.Random(12)
    # The fixed amounts are the shared cases of tests/contracts/money.json (their texts are checked
    # there from both sides); here both sides must also agree on random ones.
    shared = json.loads((ROOT / "tests" / "contracts" / "money.json").read_text(encoding="utf-8"))
    fixed = [usd for usd, _ in shared["format_usd"] if isinstance(usd, (int, float)) and not isinstance(usd, bool) and usd >= 0]
    return fixed + [round(rng.uniform(0, 3), rng.randint(2, 7)) for _ in range(300)]


def test_js_money_and_price_texts_equal_pythons():
    units = [None, "output", "second", "seconds", "sec", "s", "image", "video", "per image", "/ s", "permits"]
    durations = [None, 5, "10", 2.5, "auto", "", 0, -1, 7.25]
    rng = random.Random(3)
    cases = [[usd, rng.choice(units), rng.choice(durations)] for usd in _amounts()]
    url = (ROOT / "web" / "lib" / "format.js").as_uri()
    done = subprocess.run([NODE, "--input-type=module", "-e", SCRIPT, url, json.dumps(cases)],
                          capture_output=True, text=True, timeout=60, check=True)
    js = json.loads(done.stdout)
    mismatches = []
    for (usd, unit, duration), (money, unit_text, estimate) in zip(cases, js):
        price = pricing.price_of({"base_price_usd": usd, "price_unit": unit})
        want = (pricing.format_usd(usd), price.unit_text(), price.estimate_text(duration))
        if (money, unit_text, estimate) != want:
            mismatches.append(((usd, unit, duration), (money, unit_text, estimate), want))
    assert not mismatches, mismatches[:10]
    assert len(js) == len(cases) > 300
