# Joins the two independent first migrations of this app: the order pipeline's
# outbox (0001_initial) and the locks' fenced rows (0001_fencing). No operations.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("workers", "0001_fencing"),
        ("workers", "0001_initial"),
    ]

    operations: list = []
