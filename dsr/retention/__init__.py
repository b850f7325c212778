"""The portal's own retention: closed cases reduced to proof of handling, spent secrets purged."""
