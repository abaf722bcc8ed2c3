"""Development tools of the pack: the benchmark, the study of photographs, the pack loader and the
golden /object_info fixture. Not part of the library: nothing in ``runcomfy/`` imports this package
except ``python -m runcomfy bench``, lazily (see runcomfy/__main__.py)."""
