"""Staff authentication: passwords, TOTP, sessions, roles."""
