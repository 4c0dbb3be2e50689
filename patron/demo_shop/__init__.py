"""A realistic demo shop: catalog, customers, two years of orders and everything around them.

One deterministic generator (:class:`~patron.demo_shop.generator.ShopGenerator`) yields rows
for every table; :func:`~patron.demo_shop.seed.seed_shop` writes a small shop through
SQLAlchemy for ``patron demo``, and :mod:`patron.demo_shop.copy` streams a large one through
COPY for the benchmarks.
"""
