"""Notifications: emails and other messages sent when events happen elsewhere."""
