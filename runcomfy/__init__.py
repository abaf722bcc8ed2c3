"""RunComfy Model API library: client, emulator, schemas, media codec and command line.

Importable without ComfyUI; torch only in the node layer (``nodes/tensors.py``).
"""

__version__ = "0.1.0"
