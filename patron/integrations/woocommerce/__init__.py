"""WooCommerce: webhook topics mapped onto the same processing as Shopify's."""
