"""The export bundle: streamed ZIP, manifest + Ed25519 signature, encrypted at rest, verified offline."""
