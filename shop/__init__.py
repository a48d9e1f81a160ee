"""The shop: catalog, cart, checkout; caching done right (course sections 6 and 7)."""
