"""wpbridge: a durable, authenticated mail bridge for WordPress and WooCommerce sites.

One message travels through modules named for its stages:
``ingest`` (the doors) -> ``classify`` -> ``queue`` (durable, per recipient) -> ``relay``
(the providers), driven by ``worker``.
"""

__version__ = "0.1.0"
