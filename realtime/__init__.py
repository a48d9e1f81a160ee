"""Notifications over Channels, presence, pub/sub vs streams (course sections 1.2, 9.1)."""
