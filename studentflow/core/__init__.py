"""The ground floor: what every stage and the orchestration may import.

settings (config), errors, process helpers (procs), where to connect (endpoints), Kafka admin
helpers (kafka), the reference data (reference), the staging lister (staging) and warehouse
access (warehouse). Nothing here imports a stage package or the orchestration; see
docs/architecture.md for the layering rule and tests/unit/test_layers.py for its check.
"""
