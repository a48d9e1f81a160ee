"""Accounts, sessions and tokens: log in and out; Redis sessions, active sessions per user, revoke (course 8.5)."""
