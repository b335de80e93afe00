"""The admin panel: instance settings, invites, the mail outbox (more arrives with later features)."""
