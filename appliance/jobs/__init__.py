"""Scheduled jobs: what `appliance scheduler` runs, one holder at a time across every node."""
