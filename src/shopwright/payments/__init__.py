"""Payments: attempts and refunds against a gateway (built-in test gateway or Stripe), provider webhooks."""
