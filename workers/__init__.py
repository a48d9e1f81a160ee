"""Stream consumers, Celery tasks, locks and queues (course sections 2.6, 7, 8.4, 8.7, 8.8, 9)."""
