"""Accounts: users, credentials, sessions (JWT), roles and address books."""
