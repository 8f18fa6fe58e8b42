"""fastact's benchmark suite.

``pytest bench`` runs every benchmark once, untimed, as a smoke test;
``pytest bench --benchmark-only --benchmark-enable [--bench-full] [--huge]``
times them, and ``python -m bench.report`` runs the suite and writes
docs/benchmarks.md.  Everything is parametrized from
``fastact.ACTIVATIONS`` (see ``bench._cases``).
"""
