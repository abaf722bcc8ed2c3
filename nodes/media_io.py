"""ComfyUI socket values <-> the library's media values, one adapter per socket type.

IMAGE: tensors <-> uint8 arrays (runcomfy/tensors.py). VIDEO: comfy_api video values <->
VideoSource / VideoFile (video_io.py). AUDIO: ComfyUI's AUDIO dict <-> AudioClip (audio_io.py).
Each adapter: ``to_values(socket value, label) -> list``, ``to_socket(values)``,
``describe(values) -> note | None``, ``empty()``. Methods are blocking; the node runs them in threads.
"""

from __future__ import annotations


class ImageSockets:
    socket_type = "IMAGE"
    kind = "image"
    output_name = "images"
    output_tooltip = "The result images as one batch (mixed sizes are padded, see README)."

    def to_values(self, value, label: str) -> list:
        """One socket's value -> library values (a batch contributes each of its images)."""
        from ..runcomfy import tensors  # torch: only when a node actually runs
        try:
            return tensors.tensor_to_arrays(value)
        except (TypeError, ValueError) as exc:
            from ..runcomfy.errors import Problem, ValidationError
            raise ValidationError([Problem(label, "is not a usable IMAGE", message=f"is not a usable IMAGE: {exc}")]) \
                from None

    def to_socket(self, values: list):
        from ..runcomfy import tensors
        return tensors.arrays_to_tensor(values) if values else self.empty()

    def describe(self, values: list) -> str | None:
        from ..runcomfy import tensors
        return tensors.describe_fit(values) if values else None

    def empty(self):
        import torch
        return torch.zeros((1, 64, 64, 3), dtype=torch.float32)


class VideoSockets:
    socket_type = "VIDEO"
    kind = "video"
    output_name = "video"
    output_tooltip = "The result video (the first one; every URL is on the urls output)."

    def to_values(self, value, label: str) -> list:
        from . import video_io
        try:
            return [video_io.to_source(value, label)]
        except (TypeError, ValueError) as exc:
            from ..runcomfy.errors import Problem, ValidationError
            raise ValidationError([Problem(label, "is not a usable VIDEO", message=str(exc))]) from None

    def to_socket(self, values: list):
        from . import video_io
        return video_io.to_comfy(values[0]) if values else self.empty()

    def describe(self, values: list) -> str | None:
        return f"{len(values)} videos: the first is on the video output, all on urls" if len(values) > 1 else None

    def empty(self):
        return None         # nothing to show (dry run): downstream video nodes get no video


class AudioSockets:
    socket_type = "AUDIO"
    kind = "audio"
    output_name = "audio"
    output_tooltip = "The result audio (clips of one rate and channel count as one batch)."

    def to_values(self, value, label: str) -> list:
        from . import audio_io
        try:
            return audio_io.to_clips(value)
        except (TypeError, ValueError) as exc:
            from ..runcomfy.errors import Problem, ValidationError
            raise ValidationError([Problem(label, "is not a usable AUDIO", message=str(exc))]) from None

    def to_socket(self, values: list):
        from . import audio_io
        return audio_io.to_comfy(values)[0] if values else self.empty()

    def describe(self, values: list) -> str | None:
        if not values:
            return None
        from . import audio_io
        return audio_io.to_comfy(values)[1]

    def empty(self):
        import torch
        return {"waveform": torch.zeros((1, 1, 1), dtype=torch.float32), "sample_rate": 44_100}


def _available(kind: str) -> bool:
    from ..runcomfy import kinds
    return kind in kinds.KINDS


ADAPTERS: dict = {"IMAGE": ImageSockets(), "VIDEO": VideoSockets(), "AUDIO": AudioSockets()}


def adapter_for_kind(kind: str):
    """The socket adapter of a media kind, None when the pack has no such kind installed."""
    if not _available(kind):
        return None
    for a in ADAPTERS.values():
        if a.kind == kind:
            return a
    return None
