"""Benchmarks: the stateless JWT-cookie session side by side with the alternatives.

``make bench`` (``python -m benchmarks.run``) runs everything interleaved and writes
``benchmarks/results.md``; ``--smoke`` runs tiny counts (CI proves it still works, never times).
"""
