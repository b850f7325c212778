"""Response deadlines for data-subject requests (GDPR Art. 12(3), Reg. 1182/71 Art. 3)."""
