"""Dataset readers: upstream pair tables to the normalised pair table of :mod:`.base`."""
