"""Accounts: who someone is and how they prove it."""
