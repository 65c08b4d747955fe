"""Payments: lesson payments with Stripe, saved cards, refunds and the billing pages."""
