from celery import shared_task

from customers.traits import recompute_traits


@shared_task
def recompute_all_traits() -> int:
    """Nightly (beat): rebuild every live customer's traits and RFM scores in SQL.

    Idempotent: a rebuild from the events, safe to run twice or after a crashed worker."""
    return recompute_traits()
