"""Media: everything the pack knows about images, video and audio, below the pipeline.

- ``spec``: the kinds' facts in one table (formats, output keys, files, sockets, caps); no
  PyAV, Pillow or numpy, so the schema, client, node layout and batch runner can read it.
- ``kinds``: each kind's behaviour behind one interface (``MediaKind``: prepare inputs, measure,
  decode results), the per-job decode budget and where result files go.
- ``images``, ``imageformats``, ``fitting``: the image codecs (PNG/JPEG/WebP encoders, the one
  ``encode_many``, safe decoding) and fitting images to a model's limits.
- ``codecs``: video and audio over PyAV.

Importing this package imports nothing else: import the module you need.
"""
