"""Throwaway local servers (redis-server, redis-sentinel) for the tests and the benchmarks.

Not part of the app: neither ``loginsite`` nor the shipped package imports it. Tests and
benchmarks both use it, so neither imports from the other.
"""
