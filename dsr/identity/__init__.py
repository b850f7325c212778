"""Proving who the subject is: one-time codes and signed links, the SMS step-up, the lookup job's service."""
