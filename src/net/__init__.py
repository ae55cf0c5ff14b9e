"""Venue-agnostic network plumbing: host allowlists, token buckets, retries and HTTP sessions."""
