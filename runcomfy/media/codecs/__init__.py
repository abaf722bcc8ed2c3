"""Video and audio codecs over PyAV: arrays and bytes/files, no torch, no ComfyUI.

``video``: probe a container, decide whether a file can be sent unchanged, encode frames (and an
optional audio clip) to MP4 H.264 + AAC, transcode or remux a file without holding its frames.
``audio``: ``AudioClip`` (float32 [channels, samples] + sample rate), WAV 16-bit PCM encoding,
capped decoding of WAV / MP3 / Ogg-Opus / FLAC.
"""
