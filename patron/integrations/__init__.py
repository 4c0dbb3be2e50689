"""Store integrations: connections to shops and the webhooks they send (one sub-package per
provider)."""
