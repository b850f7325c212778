"""Public pages: the start page, choosing a right, filing a request, and the subject's case page."""
