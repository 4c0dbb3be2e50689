"""Stripe: signed webhook events turned into payments, refunds and customers."""
