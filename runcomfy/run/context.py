"""What one run needs, said explicitly: the RunContext that ``jobs.run_job`` receives (client,
journal, polling, wait limit, progress and Stop hooks, where results go, the uplink estimate a
submit feeds), and the GenerationRequest a caller hands to ``Runner.run`` (what to generate and
how). Nothing here is read from the caller with getattr, a context variable or a module global."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..api import RunComfyClient
from ..api.upload_progress import UplinkEstimate
from ..schema import ModelSchema
from .hosting import MediaHost
from .jobs.model import Hooks
from .polling import PollPolicy

DEFAULT_TIMEOUT = 1800.0


@dataclass
class RunContext:
    client: RunComfyClient
    journal: object | None = None            # a Journal (or a view of one); None: nothing recorded
    poll: PollPolicy = field(default_factory=PollPolicy)
    timeout: float = DEFAULT_TIMEOUT          # seconds from the start of a job to giving up waiting
    include_cost: bool = True
    submit_anyway: str = ""                   # one-time codes from an "earlier submit may have been billed" error
    hooks: Hooks = field(default_factory=Hooks)
    output_kind: str | None = None            # the model's output kind: video/audio results stream to files
    output_folder: str | None = None          # where streamed results land (None: the system temp dir)
    uplink: UplinkEstimate | None = None      # fed by each large submit; None: upload_progress.UPLINK
    # How a paid job's result file is fetched: fn(client, url, request_id=, n=, output_kind=, folder=)
    # -> the file (bytes, a path, or what the caller's own fetcher returns). None: media.kinds.fetch_result
    # (images into memory, video/audio streamed to files). The batch streams each result straight
    # into its output folder instead (no copy in memory or in a spill file).
    fetch_result: object | None = None

    def should_abort(self) -> bool:
        return bool(self.hooks.is_interrupted())


@dataclass
class GenerationRequest:
    """One generation: ``media`` maps a media field to its library-level values (image arrays,
    video sources, audio clips: see runcomfy/media/kinds), ``urls`` to URL strings sent after them."""

    schema: ModelSchema
    fields: dict
    media: dict[str, list] = field(default_factory=dict)
    urls: dict[str, list[str]] = field(default_factory=dict)
    host: MediaHost | None = None             # how inline media are sent (default: data: URIs)
    image_format: str = "png"                 # upload format of images (media/imageformats.py)
    jpeg_quality: int = 95
    variations: int = 1                       # requests, each with the next seed
    seed_field: str = "seed"
    resume_request_id: str | None = None      # fetch this request instead of submitting (first variation)
    fit_inputs: bool = False                  # scale inputs into the field's limits instead of refusing
    dry_run: bool = False                     # validate, encode and price; send nothing
    known_price: dict | None = None           # dry run: the price the caller already has (no lookup)
    decode: bool = True                       # False: results stay as downloaded, in Generation.outcomes
    output_folder: str | None = None          # overrides the Runner's
