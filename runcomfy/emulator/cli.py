"""``python -m runcomfy emulator ...``: serve the emulator on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading

from ..settings import TOKEN_ENV, api_token
from .faults import KINDS, parse_fault_spec
from .server import Emulator, is_loopback_host

DEFAULT_TOKEN = "emulator-token"


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().replace("*", "x").partition("x")
    if not sep:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected WxH")
    return int(w), int(h)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="runcomfy emulator",
                                description="Local emulator of the RunComfy Model API (loopback only).")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (0 = any free port; default 8765)")
    p.add_argument("--token", default=None,
                   help=f"accepted API token (default: $RUNCOMFY_API_TOKEN, else {DEFAULT_TOKEN!r})")
    p.add_argument("--processing-time", type=float, default=3.0, help="seconds per job (default 3)")
    p.add_argument("--workers", type=int, default=2, help="jobs run at once; the rest queue (default 2)")
    p.add_argument("--status-vocabulary", choices=("status", "result"), default="status",
                   help="names /status uses: completed (status) or succeeded (result)")
    p.add_argument("--failed-status", choices=("failed", "completed"), default="failed",
                   help="what /status says for a failed job (completed: only /result tells)")
    p.add_argument("--output-field", choices=("image", "images", "both"), default="image")
    p.add_argument("--outputs-per-job", type=int, default=1)
    p.add_argument("--extra-output-size", type=_size, action="append", default=[], metavar="WxH",
                   help="add one more output file of this size (repeatable)")
    p.add_argument("--error-style", choices=("string", "object"), default="string",
                   help="shape of a failed job's error")
    p.add_argument("--auth-error-status", type=int, choices=(401, 403), default=401)
    p.add_argument("--balance-error-status", type=int, choices=(402, 400), default=402)
    p.add_argument("--message-key", choices=("auto", "error_message", "message", "error", "detail"),
                   default="auto", help="key of the message in error bodies (auto: varies by error)")
    p.add_argument("--queue-position-base", type=int, choices=(0, 1), default=0)
    p.add_argument("--price", type=float, default=0.03, help="price per run in USD")
    p.add_argument("--balance", type=float, default=None, help="balance of the token in USD (default unlimited)")
    p.add_argument("--result-ttl", type=float, default=3600.0, help="seconds a finished result stays readable")
    p.add_argument("--schema-dir", default=None, help="directory of *.schema.json (default: the shipped ones)")
    p.add_argument("--strict-formats", action="store_true",
                   help="reject inputs other than JPEG/PNG/BMP/WEBP and PNGs with alpha")
    p.add_argument("--fail-next", type=int, default=0, help="the first N jobs end failed")
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of calls given a random fault")
    p.add_argument("--fault-safe-submits", action="store_true",
                   help="random faults on submits are only 429s (the certain 'not taken' answer)")
    p.add_argument("--fault-seed", type=int, default=1234)
    p.add_argument("--fault-endpoints", default=None,
                   help="comma list of endpoints random faults may hit (default: all)")
    p.add_argument("--fault-kinds", default=None, help="comma list of kinds random faults may use")
    p.add_argument("--fault", action="append", default=[], metavar="ENDPOINT:KIND[:TIMES[:key=val,...]]",
                   help="inject a fault, e.g. submit:drop_after:1 or status:http:3:status=503,retry_after=1 "
                        "(TIMES '*' = always; repeatable). Kinds: " + ", ".join(KINDS))
    p.add_argument("--uplink-mbps", type=float, default=None,
                   help="emulated client uplink in Mbit/s: every request byte it reads (default unlimited)")
    p.add_argument("--downlink-mbps", type=float, default=None,
                   help="emulated client downlink in Mbit/s: every answer and file byte (default unlimited)")
    p.add_argument("--rtt-ms", type=float, default=0.0,
                   help="emulated round-trip time: one per request, two per new connection (TCP + TLS)")
    p.add_argument("--catalog", default=None, metavar="FILE",
                   help="serve exactly the entries of this saved catalog answer ({'models': [...], 'total'}) "
                        "instead of the shipped schemas")
    p.add_argument("--samples", action="store_true",
                   help="also serve the emulator's sample catalog (every schema dialect; not RunComfy models) "
                        "and stand-ins for three real endpoints the pack's templates use (made-up prices)")
    p.add_argument("--unknown-model-status", type=int, choices=(400, 404), default=400,
                   help="answer an unknown model id with 400/400001 (default) or 404/404001")
    p.add_argument("--public-catalog", action="store_true",
                   help="serve the catalog reads without a token, as RunComfy documents them")
    p.add_argument("--tls-cert", default=None, metavar="PEM", help="serve HTTPS with this certificate (needs --tls-key)")
    p.add_argument("--tls-key", default=None, metavar="PEM", help="private key of --tls-cert")
    p.add_argument("--duration", type=float, default=0.0, help="serve this many seconds, then exit (0 = until Ctrl-C)")
    return p


def make_emulator(args: argparse.Namespace) -> tuple[Emulator, str]:
    """The configured (not started) emulator and a description of where its token came from."""
    if args.token:
        token, source = args.token, "--token"
    elif api_token():
        token, source = api_token(), TOKEN_ENV
    else:
        token, source = DEFAULT_TOKEN, f"built-in default ({DEFAULT_TOKEN!r})"
    emu = Emulator(tls=(args.tls_cert, args.tls_key) if args.tls_cert else None, token=token, processing_time=args.processing_time, workers=args.workers,
                   host=args.host, port=args.port, schema_dir=args.schema_dir,
                   status_vocabulary=args.status_vocabulary, output_field=args.output_field,
                   outputs_per_job=args.outputs_per_job, error_style=args.error_style,
                   auth_error_status=args.auth_error_status, balance_error_status=args.balance_error_status,
                   price_usd=args.price, result_ttl=args.result_ttl, extra_output_sizes=args.extra_output_size,
                   queue_position_base=args.queue_position_base, message_key=args.message_key,
                   strict_formats=args.strict_formats, failed_status=args.failed_status,
                   uplink_mbps=args.uplink_mbps, downlink_mbps=args.downlink_mbps, rtt_ms=args.rtt_ms)
    if args.catalog:
        from .catalog import load_catalog_file
        try:
            entries = load_catalog_file(args.catalog)
        except (OSError, ValueError) as exc:
            raise ValueError(f"--catalog {args.catalog}: {exc}") from None
        emu.serve_catalog(entries, replace=True)
    if args.samples:
        from .catalog import sample_entries
        emu.serve_catalog(sample_entries(), replace=False)
    emu.unknown_model_status = args.unknown_model_status
    emu.catalog_public = args.public_catalog
    if args.balance is not None:
        emu.set_balance(token, args.balance)
    if args.fail_next:
        emu.fail_next_jobs(args.fail_next)
    for spec in args.fault:
        endpoint, kind, times, params = parse_fault_spec(spec)
        emu.faults.add(endpoint, kind, times, **params)
    if args.fault_rate > 0:
        split = (lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else None)
        emu.faults.random(rate=args.fault_rate, seed=args.fault_seed,
                          kinds=split(args.fault_kinds), endpoints=split(args.fault_endpoints),
                          safe_submits=args.fault_safe_submits)
    return emu, source


def main(argv: list[str] | None = None, *, stop_event: threading.Event | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not is_loopback_host(args.host):
        parser.error(f"refusing to listen on non-loopback host {args.host!r}: the emulator is for local use only")
    try:
        emu, source = make_emulator(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        emu.start()
    except OSError as exc:
        print(f"runcomfy emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"RunComfy Model API emulator at {emu.base_url}", flush=True)
    print(f"  set RUNCOMFY_MODEL_API_BASE={emu.base_url}", flush=True)
    print(f"  accepted token: from {source}", flush=True)
    ids = emu.model_ids
    print(f"  models: {', '.join(ids) if len(ids) <= 12 else f'{len(ids)} runnable models'}", flush=True)
    if emu.faults.active:
        print("  fault injection is ON", flush=True)
    if emu.link.active:
        print(f"  link emulation: {emu.link.describe()}", flush=True)
    stop_event = stop_event or threading.Event()
    try:
        stop_event.wait(args.duration if args.duration > 0 else None)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
