"""Are the connected systems still answering as declared? `check.py` looks a test identity up in one
system and reports every step (the CLI's `systems check`); `service.py` does it for every system each
night, keeps the last result and the answer's shape, and tells staff (dashboard, mail) when a system
stops answering or its answer changes shape, before a real request fails."""
