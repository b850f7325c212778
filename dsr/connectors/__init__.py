"""Connected systems: the contract (base.py), the built-in kinds, and the registry."""
