"""Which path the queries modules take in a bench run (``--orm``: their ORM reference twins).

Set through the environment before Django starts, so worker processes and gunicorn inherit it.
"""

import os


def sql_path(args):
    if args.orm:
        os.environ["OMNI_FAST_SQL"] = "0"
    fast = os.environ.get("OMNI_FAST_SQL", "1").lower() not in ("0", "false", "off", "no")
    print(f"SQL path: {'fast SQL (queries modules)' if fast else 'ORM reference twins'}")
    return args
