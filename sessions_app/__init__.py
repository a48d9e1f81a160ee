"""Redis sessions, active sessions per user, revocation (course section 8.5)."""
