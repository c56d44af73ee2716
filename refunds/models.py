"""Refund policies, quotes, requests, approvals and payouts."""
