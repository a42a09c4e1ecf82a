"""Hookway: a serverless webhook gateway for AWS."""
