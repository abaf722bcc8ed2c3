"""RunComfy Model API library: client, emulator, schemas, media codec and command line.

Importable without ComfyUI; only ``runcomfy.tensors`` needs torch.
"""

__version__ = "0.1.0"
