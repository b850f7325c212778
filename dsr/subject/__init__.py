"""The subject's own case: its page (status, messages, reply, withdraw) and the case link in every letter."""
