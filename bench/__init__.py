"""Benchmarks, kept out of the package so they can import the peers we measure against."""
