"""Numbered schema migrations, applied in order by `appliance migrate` (see appliance/migrate.py).

Each module `NNNN_name.py` defines `upgrade(db)`. Migrations describe the schema as it was when they
were written (frozen models), never the live models, so history replays the same way forever.
"""
