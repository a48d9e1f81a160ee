"""Leaderboards on sorted sets (course sections 2.5, 8.3, 8.6)."""
