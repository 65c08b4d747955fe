"""Subscriptions: plans with a monthly lesson quota, billed by Stripe Billing."""
