"""Analytics: RFM scores, reports and dashboards, read from the shop's own data."""
