"""Shopify: webhook topics mapped onto Patron's customers, catalog, orders and carts."""
