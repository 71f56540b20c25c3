"""Parity harness: reference pipeline on every stage, two views, report."""
