"""The dashboard's engine: every query and computation `app.py` renders, importable and tested.

`app.py` stays thin (widgets, layout); all SQL lives here, built from registry identifiers
and bound parameters. Nothing here writes to the store: it is opened read-only per query.
"""
