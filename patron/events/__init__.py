"""Tracking events from storefronts, identify calls and the order upsert for custom shops."""
