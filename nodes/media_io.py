"""ComfyUI socket values <-> the library's media values, one adapter per socket type.

IMAGE is here: tensors <-> uint8 arrays (nodes/tensors.py). VIDEO (comfy_api video values <->
VideoSource / VideoFile) and AUDIO (ComfyUI's AUDIO dict <-> AudioClip) are ``ADAPTER`` in
video_io.py / audio_io.py.
Each adapter: ``to_values(socket value, label) -> list``, ``to_socket(values)``,
``describe(values) -> note | None``, ``empty()``. Methods are blocking; the node runs them in threads.
"""

from __future__ import annotations

import importlib


class ImageSockets:
    kind = "image"

    def to_values(self, value, label: str) -> list:
        """One socket's value -> library values (a batch contributes each of its images)."""
        from . import tensors  # torch: only when a node actually runs
        try:
            return tensors.tensor_to_arrays(value, label=label)
        except (TypeError, ValueError) as exc:
            from ..runcomfy.errors import Problem, ValidationError
            # tensor_to_arrays names the socket itself.
            raise ValidationError([Problem(label, "is not a usable IMAGE", message=f"is not a usable IMAGE ({exc})")]) \
                from None

    def to_socket(self, values: list):
        from . import tensors
        return tensors.arrays_to_tensor(values) if values else self.empty()

    def describe(self, values: list) -> str | None:
        from . import tensors
        return tensors.describe_fit(values) if values else None

    def empty(self):
        from . import tensors
        return tensors.empty_image()


_ADAPTER_MODULES = {"video": "video_io", "audio": "audio_io"}
_adapters: dict = {"image": ImageSockets()}


def adapter_for_kind(kind: str):
    """The socket adapter of a media kind (imported on first use: video and audio bring PyAV),
    None when the pack has no such kind installed."""
    from ..runcomfy.media import kinds
    if kind not in kinds.KINDS:
        return None
    if kind not in _adapters and kind in _ADAPTER_MODULES:
        module = importlib.import_module(f"{__package__}.{_ADAPTER_MODULES[kind]}")
        _adapters[kind] = module.ADAPTER
    return _adapters.get(kind)
