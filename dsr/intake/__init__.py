"""Public pages: the start page, choosing a right and filing a request."""
from dsr.intake.views import bp

__all__ = ["bp"]
