"""Customers' privacy rights: the export of their data and its erasure."""
